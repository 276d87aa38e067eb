"""What trains: LoRA / DoRA / QLoRA adapters, the last layers (freeze), or everything.

The model is loaded here from the config (quantized for QLoRA), so every trainer plugin
gets the same choices from the same ``peft`` section.
"""

from __future__ import annotations

import logging
from typing import Any

from plugtune.core.config import PeftConfig, QuantizationConfig, RunConfig
from plugtune.core.errors import ConfigError
from plugtune.models import load_causal_lm
from plugtune.training.arguments import checkpointing_enabled

log = logging.getLogger(__name__)

ADAPTER_TYPES = ("lora", "dora", "qlora")


def quantization_of(config: RunConfig) -> QuantizationConfig | None:
    """The quantization of the base model: the section, or 4-bit nf4 for ``qlora``."""
    if config.quantization is not None:
        if config.peft.type not in ADAPTER_TYPES:
            raise ConfigError(
                f"quantization: a quantized model trains only through adapters; "
                f"peft.type {config.peft.type!r} would update quantized weights (use qlora)"
            )
        return config.quantization
    return QuantizationConfig() if config.peft.type == "qlora" else None


def trainable_model(config: RunConfig) -> Any:
    """The base model, prepared for the configured kind of fine-tuning."""
    peft = config.peft
    if config.model.adapter and peft.type not in ADAPTER_TYPES:
        raise ConfigError(
            f"model.adapter: peft.type {peft.type!r} trains the model's own weights; "
            "merge the adapter first (plugtune export) or train with lora"
        )
    quantization = quantization_of(config)
    model = load_causal_lm(config.model, quantization)
    if quantization is not None:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=checkpointing_enabled(config.training)
        )
    if peft.type in ADAPTER_TYPES:
        model = _with_adapter(model, config)
    elif peft.type == "freeze":
        _freeze_all_but(model, peft)
    _log_trainable(model)
    return model


def lora_config(peft: PeftConfig) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=peft.r,
        lora_alpha=peft.alpha,
        lora_dropout=peft.dropout,
        target_modules="all-linear" if peft.target == "all" else list(peft.target),
        modules_to_save=list(peft.modules_to_save) or None,
        use_dora=peft.type == "dora",
        task_type="CAUSAL_LM",
    )


def _with_adapter(model: Any, config: RunConfig) -> Any:
    from peft import PeftModel, get_peft_model

    if checkpointing_enabled(config.training):
        # Inputs of a frozen embedding carry no grad; checkpointed blocks need one.
        model.enable_input_require_grads()
    if config.model.adapter:
        log.info("continuing to train the adapter in %s", config.model.adapter)
        return PeftModel.from_pretrained(model, config.model.adapter, is_trainable=True)
    try:
        return get_peft_model(model, lora_config(config.peft))
    except ValueError as error:
        raise ConfigError(f"peft.target: {error}") from None


def decoder_layers(model: Any) -> Any:
    """The model's stack of decoder layers (the ModuleList as long as the config says)."""
    from torch import nn

    count = model.config.num_hidden_layers
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == count:
            return name, module
    raise ConfigError(f"peft.type freeze: found no stack of {count} decoder layers in the model")


def _freeze_all_but(model: Any, peft: PeftConfig) -> None:
    """Train the last (or, negative, first) ``trainable_layers`` layers, limited to
    ``trainable_modules`` when given, plus ``modules_to_save``; freeze the rest."""
    prefix, layers = decoder_layers(model)
    count = peft.trainable_layers
    if count == 0 or abs(count) > len(layers):
        raise ConfigError(
            f"peft.trainable_layers: {count} is not between 1 and {len(layers)} "
            f"(or -1 and -{len(layers)} for the first layers)"
        )
    chosen = range(len(layers) - count, len(layers)) if count > 0 else range(-count)
    layer_prefixes = tuple(f"{prefix}.{index}." for index in chosen)
    matched_modules: set[str] = set()
    for name, parameter in model.named_parameters():
        in_layer = name.startswith(layer_prefixes)
        module_hit = next((m for m in peft.trainable_modules if f".{m}." in name), None)
        saved = any(f"{m}." in name for m in peft.modules_to_save)
        parameter.requires_grad = saved or (
            in_layer and (not peft.trainable_modules or module_hit is not None)
        )
        if in_layer and module_hit:
            matched_modules.add(module_hit)
    missing = set(peft.trainable_modules) - matched_modules
    if missing:
        raise ConfigError(
            f"peft.trainable_modules: {sorted(missing)} match no parameter of the chosen layers"
        )


def _log_trainable(model: Any) -> None:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    log.info("trainable parameters: %s of %s (%.2f%%)", f"{trainable:,}", f"{total:,}",
             100 * trainable / max(total, 1))
