"""Multiple-choice rows in the C-Eval, MMLU and CMMLU layouts: a question, choices A–D
and the answer letter.

- ``ceval``: ``id,question,A,B,C,D,answer[,explanation]`` (C-Eval's CSV header);
- ``mmlu``: ``question,A,B,C,D,answer`` (hendrycks' CSVs have no header: the
  benchmark reader names the columns so);
- ``cmmlu``: ``,Question,A,B,C,D,Answer`` (CMMLU's header).

A row becomes a :class:`Conversation`: the user asks the question with its lettered
choices; the assistant answers the letter (none when the split has no answers, as
C-Eval's test split). ``meta`` holds ``choices`` (letter -> text), ``answer`` and every
other column (``subject``, ``id``, ``explanation``, …).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from plugtune.core.records import Conversation, Message, Record
from plugtune.plugins.loaders.format_base import BaseLoader
from plugtune.plugins.loaders.format_options import DefaultKey, LoaderOptions
from plugtune.plugins.loaders.row_context import describe
from plugtune.sdk.multiple_choice import LETTERS, format_question


class MultipleChoiceOptions(LoaderOptions):
    COLUMNS: ClassVar[Mapping[str, DefaultKey]] = {
        "question": ("question", "Question"),
        **{letter: letter for letter in LETTERS},
        "answer": ("answer", "Answer"),
    }


class MultipleChoiceLoader(BaseLoader):
    """A question with choices A–D and its answer letter."""

    name = "multiple_choice"
    Options = MultipleChoiceOptions

    def convert(self, row: Mapping[str, Any], origin: str) -> Record:
        ctx = self.context(row, origin)
        question = _cell(ctx.require("question"))
        if not question.strip():
            raise ctx.error(ctx.key("question"), "empty question")
        choices = {}
        for letter in LETTERS:
            value = ctx.take(letter)
            if value is None:
                raise ctx.error(ctx.key(letter), "missing")
            choices[letter] = _cell(value)
        answer_value = ctx.take("answer")
        answer = _cell(answer_value).strip().upper() if answer_value is not None else ""
        if answer and answer not in LETTERS:
            raise ctx.error(ctx.key("answer"), f"must be one of A, B, C, D, got {describe(answer)}")
        messages = [Message("user", format_question(question, choices))]
        if answer:
            messages.append(Message("assistant", answer))
        meta = ctx.meta(question=question, choices=choices, answer=answer or None)
        return Conversation(tuple(messages), meta=meta, origin=origin)


def _cell(value: Any) -> str:
    """CSV cells are strings; numbers (from JSON or pandas) are written out."""
    return value if isinstance(value, str) else str(value)


class CevalLoader(MultipleChoiceLoader):
    """C-Eval rows: ``id,question,A,B,C,D,answer[,explanation]``."""

    name = "ceval"


class MmluLoader(MultipleChoiceLoader):
    """MMLU rows (hendrycks' header-less CSVs): ``question,A,B,C,D,answer``."""

    name = "mmlu"


class CmmluLoader(MultipleChoiceLoader):
    """CMMLU rows: ``,Question,A,B,C,D,Answer``."""

    name = "cmmlu"
