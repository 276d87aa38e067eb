"""``{"conversations", "gold_answers", "bad_answers"}`` rows: a prompt with reference
answers. The first gold answer becomes the assistant answer when the conversation has
none; both lists stay in ``meta`` for rewards and metrics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from plugtune.core.records import Record
from plugtune.plugins.loaders.format_base import BaseLoader
from plugtune.plugins.loaders.format_options import MEDIA_COLUMNS, ChatOptions, DefaultKey
from plugtune.plugins.loaders.outcomes import build_conversation
from plugtune.plugins.loaders.row_context import RowContext, type_name


class GoldBadOptions(ChatOptions):
    COLUMNS: ClassVar[Mapping[str, DefaultKey]] = {
        "messages": ("conversations", "messages"),
        "gold_answers": "gold_answers",
        "bad_answers": "bad_answers",
        "system": "system",
        "tools": "tools",
        **MEDIA_COLUMNS,
    }


class GoldBadLoader(BaseLoader):
    """A conversation with gold and bad reference answers (kept in meta as lists)."""

    name = "gold_bad"
    Options = GoldBadOptions

    def convert(self, row: Mapping[str, Any], origin: str) -> Record:
        ctx = self.context(row, origin)
        field = ctx.key("messages")
        turns = self.turns(ctx, field)
        turns.read_prompt(ctx.require("messages"), field)
        turns.prepend_system()
        gold = answers(ctx, "gold_answers", required=True)
        bad = answers(ctx, "bad_answers", required=False)
        if turns.messages and turns.messages[-1].role in ("user", "tool"):
            turns.add_text("assistant", gold[0], f"{ctx.key('gold_answers')}[0]")
        return build_conversation(turns, gold_answers=gold, bad_answers=bad)


def answers(ctx: RowContext, name: str, *, required: bool) -> list[str]:
    """A string or a list of strings, as a list; gold answers need at least one."""
    value, field = (ctx.require(name) if required else ctx.take(name)), ctx.key(name)
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ctx.error(field, f"must be a string or a list of strings, got {type_name(value)}")
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            raise ctx.error(f"{field}[{index}]", "must be a non-empty string")
    if required and not items:
        raise ctx.error(field, "needs at least one answer")
    return list(items)
