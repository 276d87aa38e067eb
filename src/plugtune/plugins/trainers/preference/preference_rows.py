"""What the preference trainers (``dpo``, ``kto``, ``rm``) share: records → the
tokenized rows TRL's trainers take (:mod:`.trl_runs` runs them;
:mod:`.preference_examples` says which records give which examples).

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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from plugtune.core.config import RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.records import LabeledCompletion, Preference, RecordError
from plugtune.data.answers import encode_answers
from plugtune.data.encoding import EncodingReport
from plugtune.data.turn_truncation import turn_budget
from plugtune.sdk.backends.vision import conversation_images


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

    def fit(self, origin: str, prompt: int, answers: Sequence[int]) -> tuple[int, int] | None:
        """How many prompt and answer tokens to keep (of the longest answer), or None to
        drop the example. ``turns`` shares the room as LLaMA-Factory does (both cut in
        proportion); ``truncate`` keeps the prompt and cuts the answers."""
        self.report.records += 1
        longest = max(answers)
        if prompt + longest <= self.cutoff_len:
            return prompt, longest
        self.report.truncated += 1
        self.report.truncated_answers += 1
        if self.overflow == "drop":
            self.report.drop(f"{origin}: longer than cutoff_len")
            return None
        if self.overflow == "turns":
            return turn_budget(prompt, longest, self.cutoff_len)
        if prompt >= self.cutoff_len:
            self.report.drop(f"{origin}: the prompt alone fills cutoff_len")
            return None
        return prompt, self.cutoff_len - prompt

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
    split: str = "train", *, whole: bool = False, images: bool = False,
) -> list[dict[str, Any]]:
    """DPO rows (``prompt_ids``, ``chosen_ids``, ``rejected_ids``), or with ``whole``
    reward-model rows (``chosen_ids``, ``rejected_ids``: prompt and answer together).
    ``images``: each row also names its prompt's images (``image_files``, empty for a
    text pair) and its record (``origin``), which the image collator reads."""
    encoded = encode_answers(
        [(pair.prompt, pair.chosen) for pair in pairs]
        + [(pair.prompt, pair.rejected) for pair in pairs], template, tokenizer,
        suffix=config.data.train_suffix,
    )
    budget = _budget(config)
    rows = []
    for index, pair in enumerate(pairs):
        chosen, rejected = encoded[index], encoded[len(pairs) + index]
        # The same prompt renders to the same tokens, unless a token straddles the
        # boundary with the answer: the prompt is then the part both share.
        prompt = _common_prefix(chosen.ids, rejected.ids, min(chosen.start, rejected.start))
        answers = (chosen.ids[prompt:chosen.end], rejected.ids[prompt:rejected.end])
        kept = budget.fit(pair.prompt.origin, prompt, [len(answer) for answer in answers])
        if kept is None:
            continue
        prompt_ids = chosen.ids[:kept[0]]
        chosen_ids, rejected_ids = (answer[:kept[1]] for answer in answers)
        budget.kept(len(prompt_ids) + len(chosen_ids) + len(rejected_ids),
                    len(chosen_ids) + len(rejected_ids))
        if whole:
            rows.append({"chosen_ids": prompt_ids + chosen_ids,
                         "rejected_ids": prompt_ids + rejected_ids})
        else:
            rows.append({"prompt_ids": prompt_ids, "chosen_ids": chosen_ids,
                         "rejected_ids": rejected_ids})
        if images:
            rows[-1].update(image_files=conversation_images(pair.prompt),
                            origin=pair.prompt.origin or f"pair {index}")
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
    encoded = encode_answers(items, template, tokenizer, suffix=config.data.train_suffix)
    for example, rendered in zip(examples, encoded, strict=True):
        answer = rendered.ids[rendered.start:rendered.end]
        kept = budget.fit(example.conversation.origin, rendered.start, [len(answer)])
        if kept is None:
            continue
        budget.kept(kept[0] + kept[1], kept[1])
        rows.append({"prompt_ids": rendered.ids[:kept[0]],
                     "completion_ids": answer[:kept[1]], "label": example.label})
    budget.finish(split)
    return rows
