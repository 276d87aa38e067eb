"""``full``: every weight of the model trains (a VLM's frozen parts excepted)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from plugtune.core.config import QuantizationConfig, RunConfig
from plugtune.plugins.peft.vision_tuning import VisionTuningOptions, freeze_parts, vision_parts


class FullOptions(VisionTuningOptions):
    model_config = ConfigDict(extra="forbid")


class Full:
    """Full fine-tuning: nothing frozen but what the vision options freeze, no adapter
    (the most memory, no rank limit)."""

    name: ClassVar[str] = "full"
    Options: ClassVar[type[BaseModel]] = FullOptions
    adapter: ClassVar[bool] = False

    def __init__(self, **options: Any) -> None:
        self.options = FullOptions(**options)

    def quantization(self, configured: QuantizationConfig | None) -> QuantizationConfig | None:
        return configured  # refused by the library: quantized weights cannot train

    def prepare(self, model: Any, config: RunConfig, task: str) -> Any:
        parts = vision_parts(model, self.options, self.name, trains_in_full=True)
        freeze_parts(model, parts, self.options)
        return model
