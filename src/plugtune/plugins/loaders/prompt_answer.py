"""``{"prompt", "answer"}`` rows for GRPO: the prompt (a string or messages) awaits a
generated answer; the reference ``answer`` goes to ``meta["answer"]`` for the rewards."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from plugtune.core.records import Record
from plugtune.plugins.loaders.format_base import BaseLoader
from plugtune.plugins.loaders.format_options import MEDIA_COLUMNS, ChatOptions, DefaultKey
from plugtune.plugins.loaders.outcomes import build_conversation
from plugtune.plugins.loaders.row_context import RowContext, type_name


class PromptAnswerOptions(ChatOptions):
    COLUMNS: ClassVar[Mapping[str, DefaultKey]] = {
        "prompt": "prompt",
        "answer": "answer",
        "system": "system",
        "tools": "tools",
        **MEDIA_COLUMNS,
    }


class PromptAnswerLoader(BaseLoader):
    """GRPO prompts ending with a user turn, the reference answer in meta["answer"]."""

    name = "prompt_answer"
    Options = PromptAnswerOptions

    def convert(self, row: Mapping[str, Any], origin: str) -> Record:
        ctx = self.context(row, origin)
        field = ctx.key("prompt")
        turns = self.turns(ctx, field)
        turns.read_prompt(ctx.require("prompt"), field)
        turns.prepend_system()
        return build_conversation(turns, final="prompt", answer=reference_answer(ctx))


def reference_answer(ctx: RowContext) -> Any:
    """A string or number (or a list of them: several accepted answers)."""
    value, field = ctx.require("answer"), ctx.key("answer")
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ctx.error(field, "needs at least one answer")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise ctx.error(field, f"must be a string or a number, got {type_name(item)}")
        if isinstance(item, str) and not item.strip():
            raise ctx.error(field, "empty answer")
    return value
