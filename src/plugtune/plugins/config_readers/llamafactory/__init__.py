"""LLaMA-Factory's flat training and inference YAML, read as a plugtune run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plugtune.core.interfaces import ReadConfig
from plugtune.plugins.config_readers.llamafactory.conversion import (
    convert_llamafactory,
    is_llamafactory_config,
)


class LlamaFactoryReader:
    """LLaMA-Factory's YAML (``model_name_or_path`` or ``stage`` at the top level), key
    by key: every key is used, noted or refused, never skipped (docs/llamafactory.md)."""

    def claims(self, data: Mapping[str, Any]) -> bool:
        return is_llamafactory_config(data)

    def read(self, data: Mapping[str, Any], source: str) -> ReadConfig:
        return convert_llamafactory(data, source=source)
