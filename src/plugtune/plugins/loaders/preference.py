"""Preference pairs in TRL's shape: ``prompt`` (a string or messages) with ``chosen`` and
``rejected`` answers (strings, message objects or one-message lists), or, without a
prompt, two whole conversations that differ only in their last (answer) message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from plugtune.core.records import Message, Record
from plugtune.plugins.loaders.format_base import BaseLoader
from plugtune.plugins.loaders.format_options import MEDIA_COLUMNS, ChatOptions, DefaultKey
from plugtune.plugins.loaders.messages import Turns
from plugtune.plugins.loaders.outcomes import check_answer, preference, read_answer


class PreferenceOptions(ChatOptions):
    COLUMNS: ClassVar[Mapping[str, DefaultKey]] = {
        "prompt": "prompt",
        "chosen": "chosen",
        "rejected": "rejected",
        "system": "system",
        "tools": "tools",
        **MEDIA_COLUMNS,
    }


class PreferenceLoader(BaseLoader):
    """Preference pairs: a prompt with chosen and rejected answers (DPO, reward models)."""

    name = "preference"
    Options = PreferenceOptions

    def convert(self, row: Mapping[str, Any], origin: str) -> Record:
        ctx = self.context(row, origin)
        turns = self.turns(ctx, ctx.key("prompt"))
        if ctx.has("prompt") or not isinstance(ctx.take("chosen"), list):
            turns.read_prompt(ctx.require("prompt"), ctx.key("prompt"))
            chosen, rejected = read_answer(turns, "chosen"), read_answer(turns, "rejected")
        else:
            chosen, rejected = self._implicit_prompt(turns)
        turns.prepend_system()
        return preference(turns, chosen, rejected)

    def _implicit_prompt(self, turns: Turns) -> tuple[Message, Message]:
        """Move the shared prefix of the two conversations into ``turns``."""
        ctx = turns.ctx
        sides = []
        for name in ("chosen", "rejected"):
            side = self.turns(ctx, ctx.key(name))
            side.extras = turns.extras
            side.read(ctx.require(name), ctx.key(name))
            if not side.messages:
                raise ctx.error(ctx.key(name), "no messages")
            sides.append(side)
        chosen, rejected = sides
        if chosen.messages[:-1] != rejected.messages[:-1]:
            raise ctx.error(
                rejected.field, "must repeat the chosen conversation up to its last message"
            )
        for message, source in zip(chosen.messages[:-1], chosen.sources[:-1], strict=True):
            turns.add(message, source)
        return tuple(  # type: ignore[return-value]
            check_answer(turns, side.messages[-1], side.sources[-1].path) for side in sides
        )
