"""``pt``: continued pretraining on raw text, cut into blocks of ``block_size`` tokens."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from plugtune.core.interfaces import TrainingRun
from plugtune.core.records import Record, RecordError, Text

if TYPE_CHECKING:
    from plugtune.training import CausalLMData


class PretrainingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    block_size: int | None = Field(
        None, gt=0, description="Tokens per training row; None: data.cutoff_len."
    )


def text_records(records: Iterable[Record]) -> Iterator[Record]:
    """Pretraining reads raw text only; anything else is a configuration mistake."""
    for record in records:
        if not isinstance(record, Text):
            raise RecordError(
                record.origin, "text",
                f"pt trains on raw text, not {type(record).__name__} records "
                "(use the text format, or trainer sft)",
            )
        yield record


class Pretraining:
    """Next-token prediction on every token of the text (documents joined by EOS)."""

    def __init__(self, block_size: int | None = None) -> None:
        self.block_size = block_size

    def rows(self, run: TrainingRun) -> tuple[CausalLMData, Any]:
        """The batched blocks and tokenizer (also what ``plugtune data prepare`` saves)."""
        from plugtune.training import encoded_rows

        return encoded_rows(run, text_records, block_size=self.block_size)

    def train(self, run: TrainingRun) -> dict[str, float]:
        from plugtune.training import train_causal_lm

        return train_causal_lm(run, *self.rows(run))
