"""``sft``: supervised fine-tuning on conversations, the prompt masked out of the loss."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from plugtune.core.interfaces import TrainingRun
from plugtune.core.records import Conversation, LabeledCompletion, Preference, Record, Text


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

    def train(self, run: TrainingRun) -> dict[str, float]:
        from plugtune.training import encoded_rows, train_causal_lm

        data, tokenizer = encoded_rows(run, supervised_records, packing=run.config.data.packing)
        return train_causal_lm(run, data, tokenizer)
