"""Message-list formats (sharegpt, openai): the whole conversation is one column.

The last message is the answer; with ``ranking`` the list is the prompt and
``chosen``/``rejected`` hold one answer message each; a ``kto_tag`` column labels the
last answer. A system message first wins over the ``system`` column.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plugtune.core.records import Record
from plugtune.plugins.loaders.format_base import BaseLoader
from plugtune.plugins.loaders.format_options import MEDIA_COLUMNS, DefaultKey
from plugtune.plugins.loaders.outcomes import finish

CHAT_COLUMNS: dict[str, DefaultKey] = {
    "messages": ("messages", "conversations"),
    "system": "system",
    "tools": "tools",
    "chosen": "chosen",
    "rejected": "rejected",
    "kto_tag": None,
    **MEDIA_COLUMNS,
}


class ChatLoader(BaseLoader):
    """A conversation as a list of message objects."""

    def convert(self, row: Mapping[str, Any], origin: str) -> Record:
        ctx = self.context(row, origin)
        field = ctx.key("messages")
        turns = self.turns(ctx, field)
        turns.read(ctx.require("messages"), field)
        turns.prepend_system()
        return finish(turns)
