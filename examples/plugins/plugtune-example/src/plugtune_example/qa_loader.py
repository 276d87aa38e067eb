"""The ``qa`` loader: a data format is only the meaning of one row.

Rows ``{"q": "question", "a": "answer"}`` become a two-message
:class:`~plugtune.core.records.Conversation`. Everything else — reading JSON lines,
CSV, parquet or ``datasets`` folders, mixing, sampling, splitting and the
``on_bad_record`` policy — is plugtune's (:mod:`plugtune.data`), so this format works
with every file type and every trainer, template and metric::

    data:
      train: [{path: qa.jsonl, format: qa}]

A row that cannot be used raises :class:`~plugtune.core.records.RecordError` with its
origin (``qa.jsonl:3``) and field: ``on_bad_record: error`` stops on it with that
message, ``skip`` counts and reports it. The row's other keys are kept in ``meta``,
where rewards and metrics find them by name (``gold_answers``, ``answer``, …).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plugtune.core.records import Conversation, Message, Record, RecordError

QUESTION, ANSWER = "q", "a"


class QALoader:
    """Rows of {"q": question, "a": answer} as a user question and its answer."""

    def convert(self, row: Mapping[str, Any], origin: str) -> Record:
        question = _text(row, QUESTION, origin)
        if not question.strip():
            raise RecordError(origin, QUESTION, "empty question")
        answer = _text(row, ANSWER, origin)
        meta = {key: value for key, value in row.items() if key not in (QUESTION, ANSWER)}
        messages = (Message("user", question), Message("assistant", answer))
        return Conversation(messages, meta=meta, origin=origin)


def _text(row: Mapping[str, Any], key: str, origin: str) -> str:
    if key not in row:
        present = ", ".join(map(str, row)) or "none"
        raise RecordError(origin, key, f"missing (the row has: {present})")
    value = row[key]
    if not isinstance(value, str):
        raise RecordError(origin, key, f"must be a string, got {type(value).__name__}")
    return value
