"""Unpaired feedback for KTO: a ``prompt`` (string or messages), a ``completion`` and a
boolean ``label`` (TRL's shape); or a ``messages`` conversation whose last answer the
label judges (LLaMA-Factory's ``kto_tag``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from plugtune.core.records import Record
from plugtune.plugins.loaders.format_base import BaseLoader
from plugtune.plugins.loaders.format_options import MEDIA_COLUMNS, ChatOptions, DefaultKey
from plugtune.plugins.loaders.outcomes import finish


class KTOOptions(ChatOptions):
    COLUMNS: ClassVar[Mapping[str, DefaultKey]] = {
        "prompt": "prompt",
        "response": "completion",
        "kto_tag": "label",
        "messages": ("messages", "conversations"),
        "system": "system",
        "tools": "tools",
        **MEDIA_COLUMNS,
    }


class KTOLoader(BaseLoader):
    """KTO: a completion labelled desirable (true) or undesirable (false)."""

    name = "kto"
    Options = KTOOptions

    def convert(self, row: Mapping[str, Any], origin: str) -> Record:
        ctx = self.context(row, origin)
        whole = ctx.has("messages") and not ctx.has("prompt")
        column = "messages" if whole else "prompt"
        turns = self.turns(ctx, ctx.key(column))
        turns.read_prompt(ctx.require(column), ctx.key(column))
        turns.prepend_system()
        return finish(turns, response=None if whole else "response")
