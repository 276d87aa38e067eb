"""``{"context", "target"}`` rows: the context is the user turn, the target the answer.

The alpaca conversion with other default columns (no query, history or ranking).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from plugtune.plugins.loaders.alpaca import AlpacaLoader
from plugtune.plugins.loaders.format_options import MEDIA_COLUMNS, DefaultKey, LoaderOptions


class ContextTargetOptions(LoaderOptions):
    COLUMNS: ClassVar[Mapping[str, DefaultKey]] = {
        "prompt": "context",
        "response": "target",
        "system": "system",
        "tools": "tools",
        **MEDIA_COLUMNS,
    }


class ContextTargetLoader(AlpacaLoader):
    """Context/target pairs: the context is the user turn, the target the answer."""

    name = "context_target"
    Options = ContextTargetOptions
