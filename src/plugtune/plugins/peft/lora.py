"""``lora``, ``dora`` and ``qlora``: train low-rank adapters next to frozen weights.

DoRA also learns each weight's magnitude; QLoRA is LoRA on a base model quantized to
4 bits (bitsandbytes nf4 by default; the ``quantization`` section changes it).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from plugtune.core.config import QuantizationConfig, RunConfig
from plugtune.core.errors import ConfigError
from plugtune.plugins.peft.vision_tuning import (
    VisionTuningOptions,
    frozen_modules_pattern,
    vision_parts,
)

log = logging.getLogger(__name__)


class LoRAOptions(VisionTuningOptions):
    model_config = ConfigDict(extra="forbid")

    r: int = Field(8, gt=0, description="LoRA rank.")
    alpha: int = Field(16, gt=0)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    target: list[str] | Literal["all"] = Field(
        "all", description="Module names for adapters; all: every linear layer but the head."
    )
    modules_to_save: list[str] = Field(
        default_factory=list, description="Trained in full next to the adapter (embed_tokens…)."
    )


class LoRA:
    """Low-rank adapters on the target modules (``target: all``: every linear layer but
    the head); ``model.adapter`` continues training an existing one."""

    name: ClassVar[str] = "lora"
    Options: ClassVar[type[BaseModel]] = LoRAOptions
    adapter: ClassVar[bool] = True
    use_dora: ClassVar[bool] = False

    def __init__(self, **options: Any) -> None:
        self.options = LoRAOptions(**options)

    def quantization(self, configured: QuantizationConfig | None) -> QuantizationConfig | None:
        return configured

    def adapter_config(self, task_type: str = "CAUSAL_LM", exclude: str | None = None) -> Any:
        """LoRA/DoRA settings; ``task_type`` SEQ_CLS also trains the score head in full;
        ``exclude``: a pattern of modules that get no adapter (a VLM's frozen parts)."""
        from peft import LoraConfig

        options = self.options
        return LoraConfig(
            r=options.r,
            lora_alpha=options.alpha,
            lora_dropout=options.dropout,
            target_modules="all-linear" if options.target == "all" else list(options.target),
            modules_to_save=list(options.modules_to_save) or None,
            use_dora=self.use_dora,
            task_type=task_type,
            exclude_modules=exclude,
        )

    def prepare(self, model: Any, config: RunConfig, task: str) -> Any:
        from peft import PeftConfig, PeftModel, get_peft_model

        from plugtune.training.run.arguments import checkpointing_enabled

        if checkpointing_enabled(config.training):
            # Inputs of a frozen embedding carry no grad; checkpointed blocks need one.
            model.enable_input_require_grads()
        task_type = "SEQ_CLS" if task == "reward" else "CAUSAL_LM"
        exclude = frozen_modules_pattern(vision_parts(model, self.options, self.name),
                                         self.options)
        adapter = config.model.adapter
        loaded = PeftConfig.from_pretrained(adapter) if task == "reward" and adapter else None
        if loaded is not None and loaded.task_type != task_type:
            # A language-model adapter (an SFT run): the reward model starts from the
            # merged weights and trains a new adapter and score head on top.
            log.info("merging the adapter in %s into the reward model's base", adapter)
            loaded.task_type = None  # its layers only: the reward model has no LM head
            model = PeftModel.from_pretrained(model, adapter, config=loaded).merge_and_unload()
            adapter = None
        if adapter:
            log.info("continuing to train the adapter in %s", adapter)
            return PeftModel.from_pretrained(model, adapter, is_trainable=True)
        try:
            return get_peft_model(model, self.adapter_config(task_type, exclude))
        except ValueError as error:
            raise ConfigError(f"peft.target: {error}") from None


class DoRA(LoRA):
    """Weight-decomposed LoRA: adapters learn each weight's direction, and its
    magnitude trains too."""

    name: ClassVar[str] = "dora"
    use_dora: ClassVar[bool] = True


class QLoRA(LoRA):
    """LoRA on a base model loaded in 4 bits (nf4 with double quantization unless the
    ``quantization`` section says otherwise)."""

    name: ClassVar[str] = "qlora"

    def quantization(self, configured: QuantizationConfig | None) -> QuantizationConfig | None:
        return configured if configured is not None else QuantizationConfig()
