"""Alpaca rows: ``instruction`` (+ ``input``) is the user turn, ``output`` the answer.

Follows LLaMA-Factory's converter: instruction and input are joined by a newline,
``history`` is a list of ``[prompt, response]`` pairs before it, ``system`` goes first;
``ranking: true`` reads ``chosen``/``rejected`` strings instead of ``output``, and a
``kto_tag`` column makes a labelled completion.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from plugtune.core.records import Record
from plugtune.plugins.loaders.format_base import BaseLoader
from plugtune.plugins.loaders.format_options import MEDIA_COLUMNS, DefaultKey, RankingOptions
from plugtune.plugins.loaders.messages import Turns
from plugtune.plugins.loaders.outcomes import finish
from plugtune.plugins.loaders.row_context import type_name


class AlpacaOptions(RankingOptions):
    COLUMNS: ClassVar[Mapping[str, DefaultKey]] = {
        "prompt": "instruction",
        "query": "input",
        "response": "output",
        "history": "history",
        "system": "system",
        "tools": "tools",
        "chosen": "chosen",
        "rejected": "rejected",
        "kto_tag": None,
        **MEDIA_COLUMNS,
    }


class AlpacaLoader(BaseLoader):
    """Alpaca: instruction/input/output with optional system, history, ranking and KTO."""

    name = "alpaca"
    Options = AlpacaOptions

    def convert(self, row: Mapping[str, Any], origin: str) -> Record:
        ctx = self.context(row, origin)
        turns = self.turns(ctx, ctx.key("prompt"))
        self._history(turns)
        parts = [ctx.text("prompt"), ctx.text("query")]
        turns.add_text("user", "\n".join(part for part in parts if part), ctx.key("prompt"))
        turns.prepend_system()
        return finish(turns, response="response")

    @staticmethod
    def _history(turns: Turns) -> None:
        ctx = turns.ctx
        history, field = ctx.take("history"), ctx.key("history")
        if history is None:
            return
        if not isinstance(history, list):
            raise ctx.error(field, f"must be a list of pairs, got {type_name(history)}")
        for index, pair in enumerate(history):
            where = f"{field}[{index}]"
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                raise ctx.error(where, "must be a [prompt, response] pair")
            for role, (position, text) in zip(("user", "assistant"), enumerate(pair), strict=True):
                if not isinstance(text, str):
                    problem = f"must be a string, got {type_name(text)}"
                    raise ctx.error(f"{where}[{position}]", problem)
                turns.add_text(role, text, f"{where}[{position}]")
