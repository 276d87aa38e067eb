"""The examples each preference trainer learns from.

**Which records.** dpo, rm, orpo, cpo and simpo learn from preference pairs: ``Preference`` records
(the ``preference`` loader, LLaMA-Factory ``ranking`` datasets) and the
``gold_bad`` loader's conversations, whose ``gold_answers`` and ``bad_answers`` make
``max(len(gold), len(bad))`` pairs, ``gold[i % len(gold)]`` against
``bad[i % len(bad)]``: every answer is used, and a record with many answers does not
outweigh the others quadratically. kto learns from labelled completions: ``kto``
records, each answer of a pair (chosen desirable, rejected not, as TRL unpairs them),
and each gold (desirable) and bad (undesirable) answer of a gold_bad record.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from plugtune.core.records import (
    Conversation,
    LabeledCompletion,
    Message,
    Preference,
    Record,
    RecordError,
    prompt_and_reference,
)

log = logging.getLogger(__name__)

PAIR_SOURCES = (
    "preference pairs (the preference format, LLaMA-Factory ranking datasets) "
    "or gold_bad records (conversations with gold_answers and bad_answers)"
)


def is_gold_bad(record: Record) -> bool:
    return isinstance(record, Conversation) and {"gold_answers", "bad_answers"} <= set(
        record.meta
    )


def _kind(record: Record) -> str:
    if isinstance(record, LabeledCompletion):
        return "labelled (KTO) completions"
    if isinstance(record, Conversation):
        return "plain conversations (no gold_answers / bad_answers)"
    return f"{type(record).__name__} records"


def _answers(record: Conversation, name: str) -> list[Message]:
    return [Message("assistant", text) for text in record.meta.get(name) or ()]


class _Skips:
    """Records that cannot give what the trainer needs: an error, or skipped and
    counted under ``data.on_bad_record: skip`` (never silently)."""

    def __init__(self, policy: str) -> None:
        self.policy = policy
        self.skipped: list[str] = []

    def __call__(self, error: RecordError) -> None:
        if self.policy != "skip":
            raise error
        self.skipped.append(str(error))

    def log(self, trainer: str) -> None:
        if self.skipped:
            log.warning("%s: %d records skipped (data.on_bad_record: skip), e.g. %s", trainer,
                        len(self.skipped), "; ".join(self.skipped[:3]))


def preference_pairs(records: Iterable[Record], trainer: str, policy: str = "error"
                     ) -> list[Preference]:
    """The pairs a pairwise trainer (dpo, rm) learns from; any other kind of record is
    an error naming it and what the trainer needs."""
    pairs: list[Preference] = []
    skips = _Skips(policy)
    for record in records:
        if isinstance(record, Preference):
            pairs.append(record)
        elif is_gold_bad(record):
            assert isinstance(record, Conversation)
            gold, bad = _answers(record, "gold_answers"), _answers(record, "bad_answers")
            if not bad:
                skips(RecordError(record.origin, "bad_answers",
                                  f"no bad answer to pair with a gold one ({trainer} learns "
                                  "from pairs)"))
                continue
            prompt = prompt_and_reference(record)[0]
            pairs += [Preference(prompt, gold[i % len(gold)], bad[i % len(bad)])
                      for i in range(max(len(gold), len(bad)))]
        else:
            raise RecordError(
                record.origin, "",
                f"{trainer} trains on {PAIR_SOURCES}, not on {_kind(record)}"
                + (" (use trainer kto)" if isinstance(record, LabeledCompletion) else
                   " (use trainer sft)"),
            )
    skips.log(trainer)
    return pairs


def labeled_completions(records: Iterable[Record], trainer: str = "kto"
                        ) -> list[LabeledCompletion]:
    """The labelled completions KTO learns from: kto records as they are, and each
    answer of a pair or of a gold_bad record, labelled by its side."""
    examples: list[LabeledCompletion] = []
    for record in records:
        if isinstance(record, LabeledCompletion):
            examples.append(record)
        elif isinstance(record, Preference):
            examples += [_labeled(record.prompt, record.chosen, True),
                         _labeled(record.prompt, record.rejected, False)]
        elif is_gold_bad(record):
            assert isinstance(record, Conversation)
            prompt = prompt_and_reference(record)[0]
            examples += [_labeled(prompt, answer, True)
                         for answer in _answers(record, "gold_answers")]
            examples += [_labeled(prompt, answer, False)
                         for answer in _answers(record, "bad_answers")]
        else:
            raise RecordError(
                record.origin, "",
                f"{trainer} trains on completions labelled desirable or not (the kto format, "
                f"LLaMA-Factory kto_tag datasets), {PAIR_SOURCES}; not on {_kind(record)} "
                "(use trainer sft)",
            )
    return examples


def _labeled(prompt: Conversation, answer: Message, label: bool) -> LabeledCompletion:
    return LabeledCompletion(prompt.answered(answer), label)
