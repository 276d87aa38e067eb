"""The ``answer_sft`` trainer: a training algorithm built on plugtune's entry points.

A trainer is a factory (here a class with an ``Options`` model, so
``trainer: {name: answer_sft, min_answer_chars: 20}`` is validated) whose object has
``train(run) -> metrics``. It never reimplements the run machinery:
:func:`plugtune.training.encoded_rows` loads the run's data, keeps what ``select``
yields, and encodes it with the run's template; :func:`plugtune.training.train_causal_lm`
loads the model made trainable by the run's ``peft`` method (lora, bitfit, …), trains,
and saves. So the algorithm here is only *which records to learn from*: conversations
whose final answer has at least ``min_answer_chars`` characters — one-word answers
teach a chat model to be curt.

The counts of kept and dropped records are part of the returned metrics, which
plugtune writes to the run's ``all_results.json``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from plugtune.core.interfaces import TrainingRun
from plugtune.core.records import Conversation, Record

log = logging.getLogger(__name__)


class AnswerSFTOptions(BaseModel):
    """Options of ``answer_sft``."""

    model_config = ConfigDict(extra="forbid")

    min_answer_chars: int = Field(
        1, ge=0,
        description="Train only on records whose final answer has at least this many "
        "characters (surrounding whitespace not counted).")


def final_answer(record: Record) -> str | None:
    """The text of a conversation's final assistant message (None: it ends otherwise,
    or the record is not a conversation)."""
    if isinstance(record, Conversation) and record.messages:
        last = record.messages[-1]
        if last.role == "assistant":
            return last.content
    return None


class AnswerSFT:
    """Supervised fine-tuning on the records whose final answer is long enough."""

    Options: ClassVar[type[BaseModel]] = AnswerSFTOptions

    def __init__(self, min_answer_chars: int = 1) -> None:
        self.min_answer_chars = min_answer_chars
        self.counts: Counter[str] = Counter()

    def select(self, records: Iterable[Record]) -> Iterator[Record]:
        """The records to learn from (called for the train and the eval split)."""
        kept = dropped = 0
        for record in records:
            answer = final_answer(record)
            if answer is not None and len(answer.strip()) >= self.min_answer_chars:
                kept += 1
                yield record
            else:
                dropped += 1
        self.counts.update(kept=kept, dropped=dropped)
        if dropped:
            log.warning("answer_sft: dropped %d of %d records (final answer shorter than %d "
                        "characters, or none)", dropped, kept + dropped, self.min_answer_chars)

    def train(self, run: TrainingRun) -> dict[str, float]:
        # Imported here: registering the plugin must not import the training stack.
        from plugtune.training import encoded_rows, train_causal_lm

        self.counts.clear()
        data, tokenizer = encoded_rows(run, self.select, packing=run.config.data.packing)
        metrics = train_causal_lm(run, data, tokenizer)
        metrics["answer_sft_kept"] = float(self.counts["kept"])
        metrics["answer_sft_dropped"] = float(self.counts["dropped"])
        return metrics
