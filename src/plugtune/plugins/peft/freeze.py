"""``freeze``: train the last (or first) decoder layers in full, the rest frozen (a
VLM's vision tower and projector too, unless the vision options train them)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from plugtune.core.config import QuantizationConfig, RunConfig
from plugtune.core.errors import ConfigError
from plugtune.plugins.peft.vision_tuning import VisionParts, VisionTuningOptions, vision_parts


class FreezeOptions(VisionTuningOptions):
    model_config = ConfigDict(extra="forbid")

    trainable_layers: int = Field(
        2, description="Train the last N decoder layers (negative: the first N)."
    )
    trainable_modules: list[str] = Field(
        default_factory=list,
        description="Train only these parts of those layers (mlp, self_attn…); "
        "empty: the whole layers.",
    )
    modules_to_save: list[str] = Field(
        default_factory=list, description="Also trained in full (embed_tokens, lm_head…)."
    )


class Freeze:
    """Train ``trainable_layers`` decoder layers (limited to ``trainable_modules`` when
    given) and ``modules_to_save``; everything else stays frozen."""

    name: ClassVar[str] = "freeze"
    Options: ClassVar[type[BaseModel]] = FreezeOptions
    adapter: ClassVar[bool] = False

    def __init__(self, **options: Any) -> None:
        self.options = FreezeOptions(**options)

    def quantization(self, configured: QuantizationConfig | None) -> QuantizationConfig | None:
        return configured  # refused by the library: frozen or not, these weights train

    def prepare(self, model: Any, config: RunConfig, task: str) -> Any:
        parts = vision_parts(model, self.options, self.name)
        prefix, layers = decoder_layers(model, parts)
        chosen = self._chosen(len(layers))
        layer_prefixes = tuple(f"{prefix}.{index}." for index in chosen)
        modules, saved = self.options.trainable_modules, self.options.modules_to_save
        matched: set[str] = set()
        for name, parameter in model.named_parameters():
            in_layer = name.startswith(layer_prefixes)
            hit = next((m for m in modules if f".{m}." in name), None)
            parameter.requires_grad = (
                any(f"{m}." in name for m in saved)
                or (in_layer and (not modules or hit is not None))
                or parts.trained(name, self.options)
            )
            if in_layer and hit:
                matched.add(hit)
        missing = set(modules) - matched
        if missing:
            raise ConfigError(
                f"peft.trainable_modules: {sorted(missing)} match no parameter of the "
                "chosen layers"
            )
        if task == "reward":  # the new score head learns whatever layers train
            head = model.score if hasattr(model, "score") else model.classifier
            for parameter in head.parameters():
                parameter.requires_grad = True
        return model

    def _chosen(self, count: int) -> range:
        layers = self.options.trainable_layers
        if layers == 0 or abs(layers) > count:
            raise ConfigError(
                f"peft.trainable_layers: {layers} is not between 1 and {count} "
                f"(or -1 and -{count} for the first layers)"
            )
        return range(count - layers, count) if layers > 0 else range(-layers)


def decoder_layers(model: Any, parts: VisionParts) -> tuple[str, Any]:
    """The model's stack of decoder layers (the ModuleList as long as the config says;
    a VLM's language model's, never one inside its vision ``parts``)."""
    from torch import nn

    config = getattr(model.config, "text_config", None) or model.config
    count = config.num_hidden_layers
    for name, module in model.named_modules():
        if parts.contains(name):
            continue  # the image encoder's layers are no decoder layers
        if isinstance(module, nn.ModuleList) and len(module) == count:
            return name, module
    raise ConfigError(f"peft.type freeze: found no stack of {count} decoder layers in the model")
