"""The model a trainer trains: loaded from the config (quantized when the method wants
it) and made trainable by the ``peft`` plugin the config names.

Every trainer plugin gets the same choices from the same ``peft`` section, and a new
fine-tuning method is a ``peft`` plugin (:class:`~plugtune.core.interfaces.PeftMethod`),
not an edit here.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from plugtune.core.config import ModelConfig, QuantizationConfig, RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import PeftMethod
from plugtune.core.session import Session
from plugtune.models import load_causal_lm
from plugtune.training.run.arguments import checkpointing_enabled

log = logging.getLogger(__name__)

# causal_lm: the language model; reward: the same decoder with a one-output score head
# (AutoModelForSequenceClassification, num_labels=1), what reward-model training needs.
Task = Literal["causal_lm", "reward"]


def peft_method(config: RunConfig, session: Session) -> PeftMethod:
    """The config's ``peft`` method, built with its options."""
    return session.build("peft", config.peft)


def quantization_of(config: RunConfig, method: PeftMethod) -> QuantizationConfig | None:
    """The quantization of the base model: what the method makes of the ``quantization``
    section (qlora: 4-bit nf4 even without one); only adapters train over it."""
    quantization = method.quantization(config.quantization)
    if quantization is not None and not method.adapter:
        raise ConfigError(
            f"quantization: a quantized model trains only through adapters; "
            f"peft.type {config.peft.type!r} would update quantized weights (use qlora)"
        )
    return quantization


def trainable_model(config: RunConfig, session: Session, *, task: Task = "causal_lm") -> Any:
    """The base model, prepared for the configured kind of fine-tuning (``task``: the
    causal LM, or a reward model with a ``score`` head trained in full next to adapters)."""
    method = peft_method(config, session)
    if config.model.adapter and not method.adapter:
        raise ConfigError(
            f"model.adapter: peft.type {config.peft.type!r} trains the model's own weights; "
            "merge the adapter first (plugtune export) or train with lora"
        )
    quantization = quantization_of(config, method)
    if task == "reward":
        model = load_reward_model(config.model, quantization)
    else:
        model = load_causal_lm(config.model, quantization)
    if quantization is not None:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=checkpointing_enabled(config.training)
        )
    model = method.prepare(model, config, task)
    _log_trainable(model)
    return model


def load_reward_model(model: ModelConfig, quantization: QuantizationConfig | None = None) -> Any:
    """The model with a freshly initialised one-output ``score`` head on its decoder
    (``model.adapter`` is not applied here), loaded by :func:`plugtune.models.load_causal_lm`
    so it follows the same rules (``model.attention`` included)."""
    return load_causal_lm(model, quantization,
                          auto_class="AutoModelForSequenceClassification", num_labels=1)


def _log_trainable(model: Any) -> None:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    log.info("trainable parameters: %s of %s (%.2f%%)", f"{trainable:,}", f"{total:,}",
             100 * trainable / max(total, 1))
