"""``full``: every weight of the model trains."""

from __future__ import annotations

from typing import Any, ClassVar

from plugtune.core.config import QuantizationConfig, RunConfig


class Full:
    """Full fine-tuning: nothing frozen, no adapter (the most memory, no rank limit)."""

    name: ClassVar[str] = "full"
    adapter: ClassVar[bool] = False

    def quantization(self, configured: QuantizationConfig | None) -> QuantizationConfig | None:
        return configured  # refused by the library: quantized weights cannot train

    def prepare(self, model: Any, config: RunConfig, task: str) -> Any:
        return model
