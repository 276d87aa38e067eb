"""``sft``: supervised fine-tuning on conversations, the prompt masked out of the loss."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from plugtune.core.interfaces import TrainingRun
from plugtune.core.records import Conversation, LabeledCompletion, Preference, Record, Text

if TYPE_CHECKING:
    from plugtune.training import CausalLMData


def supervised_records(records: Iterable[Record]) -> Iterator[Record]:
    """What SFT learns from each kind of record: a conversation as it is, the chosen
    answer of a preference pair, a KTO example only when its answer is desirable, and
    raw text as pretraining blocks."""
    for record in records:
        if isinstance(record, (Conversation, Text)):
            yield record
        elif isinstance(record, Preference):
            yield record.prompt.answered(record.chosen)
        elif isinstance(record, LabeledCompletion) and record.label:
            yield record.conversation


class SupervisedFineTuning:
    """Train on the answers of the configured data (``data.packing`` packs rows)."""

    def rows(self, run: TrainingRun) -> tuple[CausalLMData, Any]:
        """The batched rows and tokenizer (also what ``plugtune data prepare`` saves)."""
        from plugtune.training import encoded_rows

        return encoded_rows(run, supervised_records, packing=run.config.data.packing)

    def train(self, run: TrainingRun) -> dict[str, float]:
        from plugtune.training import train_causal_lm

        return train_causal_lm(run, *self.rows(run))
