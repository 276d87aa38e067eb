"""The ``bitfit`` fine-tuning method (``peft: bitfit``): only the bias terms train.

BitFit (Ben Zaken, Ravfogel & Goldberg, 2022) freezes every weight matrix and trains
the biases alone: a tiny fraction of the parameters, no adapter to load or merge, and
the result is an ordinary checkpoint. Models whose linear layers have biases (Qwen2's
q/k/v projections, BERT, GPT-2) can use it; a model without any is refused.

A ``peft`` plugin decides *what trains*; every trainer (sft, dpo, this package's
``answer_sft``, …) gets the model through :func:`plugtune.training.trainable_model`,
which calls :meth:`BitFit.prepare`, so no trainer knows about BitFit.
"""

from __future__ import annotations

from typing import Any, ClassVar

from plugtune.core.config import QuantizationConfig, RunConfig
from plugtune.core.errors import ConfigError


def is_bias(parameter_name: str) -> bool:
    """Whether a parameter (``model.layers.0.self_attn.q_proj.bias``) is a bias."""
    return parameter_name.rsplit(".", 1)[-1] == "bias"


class BitFit:
    """BitFit: train only the bias parameters (and a reward model's score head)."""

    #: The model's own weights train, not a PEFT adapter: dpo and kto then load a second
    #: copy of the base as their frozen reference (ppo refuses such a method), and a
    #: quantized base is refused.
    adapter: ClassVar[bool] = False

    def quantization(self, configured: QuantizationConfig | None) -> QuantizationConfig | None:
        # Nothing of its own to ask for; plugtune refuses a quantization section for a
        # method without an adapter (quantized biases cannot train either).
        return configured

    def prepare(self, model: Any, config: RunConfig, task: str) -> Any:
        for name, parameter in model.named_parameters():
            parameter.requires_grad = is_bias(name)
        if not any(is_bias(name) for name, _ in model.named_parameters()):
            raise ConfigError(f"peft.type bitfit: {config.model.path} has no bias parameters "
                              "to train (use lora, freeze or full)")
        if task == "reward":  # a reward model's score head is new: it must learn too
            head = model.score if hasattr(model, "score") else model.classifier
            for parameter in head.parameters():
                parameter.requires_grad = True
        from plugtune.training import checkpointing_enabled

        if checkpointing_enabled(config.training):
            # Checkpointed blocks need inputs that carry a gradient, and the frozen
            # embedding's outputs do not: without this the biases inside get none.
            model.enable_input_require_grads()
        return model
