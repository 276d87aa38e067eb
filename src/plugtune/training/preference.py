"""What the preference trainers (``dpo``, ``kto``, ``rm``) share: records → the
tokenized rows TRL's trainers take (:mod:`plugtune.training.trl_runs` runs them).

**plugtune tokenizes, not TRL.** Each answer is rendered after its prompt by the run's
template plugin (``template:``, the same segments ``sft`` trains on) and tokenized in
one batched call of the Rust tokenizer, without special tokens. The answer is the
tokens of the last assistant turn, its end-of-turn token included (what sft puts in
the loss); the prompt is everything before it. TRL's trainers get ``prompt_ids`` /
``chosen_ids`` / ``rejected_ids`` (dpo), ``prompt_ids`` / ``completion_ids`` /
``label`` (kto) and whole ``chosen_ids`` / ``rejected_ids`` sequences (rm). Handing TRL
conversational rows instead would render them with the tokenizer's own chat template,
whatever ``template:`` says; plain-text rows would get the tokenizer's EOS appended to
answers that end with another end-of-turn token, and a BOS added in front of a
rendered prompt that already has one (Llama, Mistral, Gemma).

**Which records.** dpo and rm learn from preference pairs: ``Preference`` records
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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from plugtune.core.config import RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.records import (
    Conversation,
    LabeledCompletion,
    Message,
    Preference,
    Record,
    RecordError,
)
from plugtune.data.encoding import (
    BATCH_SIZE,
    IGNORE_INDEX,
    EncodingReport,
    label_tokens,
    trainable_spans,
)

log = logging.getLogger(__name__)

PAIR_SOURCES = (
    "preference pairs (the preference format, LLaMA-Factory ranking datasets) "
    "or gold_bad records (conversations with gold_answers and bad_answers)"
)


# ---------------------------------------------------------------------------- records


def origin_of(record: Record) -> str:
    if isinstance(record, Preference):
        return record.prompt.origin
    if isinstance(record, LabeledCompletion):
        return record.conversation.origin
    return getattr(record, "origin", "")


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


def _prompt_of(conversation: Conversation) -> Conversation:
    """The conversation without its final answer (a gold_bad record's, which is
    ``gold_answers[0]`` when the row had none of its own)."""
    prompt, _ = conversation.split_last_answer()
    return prompt


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
            prompt = _prompt_of(record)
            pairs += [Preference(prompt, gold[i % len(gold)], bad[i % len(bad)])
                      for i in range(max(len(gold), len(bad)))]
        else:
            raise RecordError(
                origin_of(record), "",
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
            prompt = _prompt_of(record)
            examples += [_labeled(prompt, answer, True)
                         for answer in _answers(record, "gold_answers")]
            examples += [_labeled(prompt, answer, False)
                         for answer in _answers(record, "bad_answers")]
        else:
            raise RecordError(
                origin_of(record), "",
                f"{trainer} trains on completions labelled desirable or not (the kto format, "
                f"LLaMA-Factory kto_tag datasets), {PAIR_SOURCES}; not on {_kind(record)} "
                "(use trainer sft)",
            )
    return examples


def _labeled(prompt: Conversation, answer: Message, label: bool) -> LabeledCompletion:
    return LabeledCompletion(_with_answer(prompt, answer), label)


def _with_answer(prompt: Conversation, answer: Message) -> Conversation:
    return Conversation((*prompt.messages, answer), prompt.tools, prompt.meta, prompt.origin)


# --------------------------------------------------------------------------- encoding


@dataclass(frozen=True, slots=True)
class Rendered:
    """A prompt and its answer as ids: the answer is ``ids[start:end]``."""

    ids: list[int]
    start: int
    end: int


def encode_answers(
    items: Sequence[tuple[Conversation, Message]], template: Any, tokenizer: Any
) -> list[Rendered]:
    """Each (prompt, answer) rendered by ``template`` and tokenized in batches: the ids
    of the whole text, and where the answer's trainable tokens (its end-of-turn token
    included) start and end. Whatever the template writes after them (a newline) is
    not part of the answer."""
    backend = tokenizer.backend_tokenizer
    rendered: list[Rendered] = []
    for first in range(0, len(items), BATCH_SIZE):
        batch = items[first:first + BATCH_SIZE]
        segments = [template.segments(_with_answer(prompt, answer)) for prompt, answer in batch]
        texts = ["".join(segment.text for segment in parts) for parts in segments]
        encodings = backend.encode_batch(texts, add_special_tokens=False)
        for (prompt, _), parts, encoding in zip(batch, segments, encodings, strict=True):
            labels, _ = label_tokens(encoding.ids, encoding, trainable_spans(parts, "last"))
            positions = [i for i, label in enumerate(labels) if label != IGNORE_INDEX]
            if not positions:
                raise RecordError(prompt.origin, "", "the answer renders to no tokens")
            rendered.append(Rendered(list(encoding.ids), positions[0], positions[-1] + 1))
    return rendered


def _common_prefix(first: Sequence[int], second: Sequence[int], limit: int) -> int:
    length = 0
    while length < limit and first[length] == second[length]:
        length += 1
    return length


@dataclass
class Budget:
    """``data.cutoff_len`` and ``data.overflow`` for prompt + answer sequences; what was
    cut or dropped is counted in ``report`` (and logged by :meth:`finish`)."""

    cutoff_len: int
    overflow: str
    report: EncodingReport

    def fit(self, origin: str, prompt: int, answers: Sequence[int]) -> int | None:
        """How many answer tokens to keep (the longest answer's), or None to drop."""
        self.report.records += 1
        longest = max(answers)
        if prompt + longest <= self.cutoff_len:
            return longest
        self.report.truncated += 1
        self.report.truncated_answers += 1
        if self.overflow == "drop":
            self.report.dropped.append(f"{origin}: longer than cutoff_len")
            return None
        if prompt >= self.cutoff_len:
            self.report.dropped.append(f"{origin}: the prompt alone fills cutoff_len")
            return None
        return self.cutoff_len - prompt

    def kept(self, tokens: int, answer_tokens: int) -> None:
        self.report.examples += 1
        self.report.tokens += tokens
        self.report.label_tokens += answer_tokens

    def finish(self, split: str) -> None:
        self.report.warn()
        if split == "train" and not self.report.examples:
            raise ConfigError("data: nothing left to train on after encoding (see the warnings)")


def _budget(config: RunConfig) -> Budget:
    return Budget(config.data.cutoff_len, config.data.overflow, EncodingReport())


def pair_rows(
    pairs: Sequence[Preference], template: Any, tokenizer: Any, config: RunConfig,
    split: str = "train", *, whole: bool = False,
) -> list[dict[str, list[int]]]:
    """DPO rows (``prompt_ids``, ``chosen_ids``, ``rejected_ids``), or with ``whole``
    reward-model rows (``chosen_ids``, ``rejected_ids``: prompt and answer together)."""
    encoded = encode_answers(
        [(pair.prompt, pair.chosen) for pair in pairs]
        + [(pair.prompt, pair.rejected) for pair in pairs], template, tokenizer,
    )
    budget = _budget(config)
    rows = []
    for index, pair in enumerate(pairs):
        chosen, rejected = encoded[index], encoded[len(pairs) + index]
        # The same prompt renders to the same tokens, unless a token straddles the
        # boundary with the answer: the prompt is then the part both share.
        prompt = _common_prefix(chosen.ids, rejected.ids, min(chosen.start, rejected.start))
        answers = (chosen.ids[prompt:chosen.end], rejected.ids[prompt:rejected.end])
        keep = budget.fit(pair.prompt.origin, prompt, [len(answer) for answer in answers])
        if keep is None:
            continue
        chosen_ids, rejected_ids = (answer[:keep] for answer in answers)
        budget.kept(prompt + len(chosen_ids) + len(rejected_ids),
                    len(chosen_ids) + len(rejected_ids))
        prompt_ids = chosen.ids[:prompt]
        if whole:
            rows.append({"chosen_ids": prompt_ids + chosen_ids,
                         "rejected_ids": prompt_ids + rejected_ids})
        else:
            rows.append({"prompt_ids": prompt_ids, "chosen_ids": chosen_ids,
                         "rejected_ids": rejected_ids})
    budget.finish(split)
    return rows


def completion_rows(
    examples: Sequence[LabeledCompletion], template: Any, tokenizer: Any, config: RunConfig,
    split: str = "train",
) -> list[dict[str, Any]]:
    """KTO rows: ``prompt_ids``, ``completion_ids`` and the boolean ``label``."""
    items = []
    for example in examples:
        prompt, answer = example.conversation.split_last_answer()
        if answer is None:
            raise RecordError(example.conversation.origin, "", "no answer to label")
        items.append((prompt, answer))
    budget = _budget(config)
    rows = []
    for example, rendered in zip(examples, encode_answers(items, template, tokenizer),
                                 strict=True):
        answer = rendered.ids[rendered.start:rendered.end]
        keep = budget.fit(example.conversation.origin, rendered.start, [len(answer)])
        if keep is None:
            continue
        budget.kept(rendered.start + keep, keep)
        rows.append({"prompt_ids": rendered.ids[:rendered.start],
                     "completion_ids": answer[:keep], "label": example.label})
    budget.finish(split)
    return rows
