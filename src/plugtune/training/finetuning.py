"""What trains: LoRA / DoRA / QLoRA adapters, the last layers (freeze), or everything.

The model is loaded here from the config (quantized for QLoRA), so every trainer plugin
gets the same choices from the same ``peft`` section.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from plugtune.core.config import ModelConfig, PeftConfig, QuantizationConfig, RunConfig
from plugtune.core.errors import ConfigError
from plugtune.models import load_causal_lm
from plugtune.training.arguments import checkpointing_enabled

log = logging.getLogger(__name__)

ADAPTER_TYPES = ("lora", "dora", "qlora")
# causal_lm: the language model; reward: the same decoder with a one-output score head
# (AutoModelForSequenceClassification, num_labels=1), what reward-model training needs.
Task = Literal["causal_lm", "reward"]


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


def trainable_model(config: RunConfig, *, task: Task = "causal_lm") -> Any:
    """The base model, prepared for the configured kind of fine-tuning (``task``: the
    causal LM, or a reward model with a ``score`` head trained in full next to adapters)."""
    peft = config.peft
    if config.model.adapter and peft.type not in ADAPTER_TYPES:
        raise ConfigError(
            f"model.adapter: peft.type {peft.type!r} trains the model's own weights; "
            "merge the adapter first (plugtune export) or train with lora"
        )
    quantization = quantization_of(config)
    if task == "reward":
        model = load_reward_model(config.model, quantization)
    else:
        model = load_causal_lm(config.model, quantization)
    if quantization is not None:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=checkpointing_enabled(config.training)
        )
    if peft.type in ADAPTER_TYPES:
        model = _with_adapter(model, config, task)
    elif peft.type == "freeze":
        _freeze_all_but(model, peft)
        if task == "reward":  # the new head learns whatever layers train
            head = model.score if hasattr(model, "score") else model.classifier
            for parameter in head.parameters():
                parameter.requires_grad = True
    _log_trainable(model)
    return model


def load_reward_model(model: ModelConfig, quantization: QuantizationConfig | None = None) -> Any:
    """The model with a freshly initialised one-output ``score`` head on its decoder
    (``model.adapter`` is not applied here), loaded under the same rules as
    :func:`plugtune.models.load_causal_lm`."""
    from transformers import AutoModelForSequenceClassification

    from plugtune.models import bitsandbytes_config, resolve_dtype
    from plugtune.models.loading import _default_device, _explain
    from plugtune.tiny import resolve_model_path

    dtype = resolve_dtype(model.dtype)
    kwargs: dict[str, Any] = {
        "revision": model.revision,
        "trust_remote_code": model.trust_remote_code,
        "dtype": dtype,
        "use_safetensors": None if model.allow_pickle else True,
        "num_labels": 1,
    }
    if quantization is not None:
        kwargs["quantization_config"] = bitsandbytes_config(quantization, dtype)
        kwargs["device_map"] = {"": _default_device()}
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            resolve_model_path(model.path), **kwargs
        )
    except (OSError, ValueError) as error:
        raise ConfigError(_explain(model, error)) from None


def lora_config(peft: PeftConfig, task_type: str = "CAUSAL_LM") -> Any:
    """LoRA/DoRA settings; ``task_type`` SEQ_CLS also trains the score head in full."""
    from peft import LoraConfig

    return LoraConfig(
        r=peft.r,
        lora_alpha=peft.alpha,
        lora_dropout=peft.dropout,
        target_modules="all-linear" if peft.target == "all" else list(peft.target),
        modules_to_save=list(peft.modules_to_save) or None,
        use_dora=peft.type == "dora",
        task_type=task_type,
    )


def _with_adapter(model: Any, config: RunConfig, task: Task = "causal_lm") -> Any:
    from peft import PeftConfig as AdapterConfig
    from peft import PeftModel, get_peft_model

    if checkpointing_enabled(config.training):
        # Inputs of a frozen embedding carry no grad; checkpointed blocks need one.
        model.enable_input_require_grads()
    task_type = "SEQ_CLS" if task == "reward" else "CAUSAL_LM"
    adapter = config.model.adapter
    loaded = AdapterConfig.from_pretrained(adapter) if task == "reward" and adapter else None
    if loaded is not None and loaded.task_type != task_type:
        # A language-model adapter (an SFT run): the reward model starts from the merged
        # weights and trains a new adapter and score head on top.
        log.info("merging the adapter in %s into the reward model's base", adapter)
        loaded.task_type = None  # its layers only: the reward model has no LM head
        model = PeftModel.from_pretrained(model, adapter, config=loaded).merge_and_unload()
        adapter = None
    if adapter:
        log.info("continuing to train the adapter in %s", adapter)
        return PeftModel.from_pretrained(model, adapter, is_trainable=True)
    try:
        return get_peft_model(model, lora_config(config.peft, task_type))
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
