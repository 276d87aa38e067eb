"""Raw text for continued pretraining: one document per row, read from the ``text``
column (LLaMA-Factory's ``columns: {prompt: text}``); a ``.txt`` file gives one row per
non-empty line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from plugtune.core.records import Record, Text
from plugtune.plugins.loaders.format_base import BaseLoader
from plugtune.plugins.loaders.format_options import DefaultKey, LoaderOptions


class TextOptions(LoaderOptions):
    COLUMNS: ClassVar[Mapping[str, DefaultKey]] = {"prompt": "text"}


class TextLoader(BaseLoader):
    """Plain text documents for pretraining."""

    name = "text"
    Options = TextOptions

    def convert(self, row: Mapping[str, Any], origin: str) -> Record:
        ctx = self.context(row, origin)
        text = ctx.text("prompt", required=True)
        if not text or not text.strip():
            raise ctx.error(ctx.key("prompt"), "empty text")
        return Text(text, ctx.meta(), origin)
