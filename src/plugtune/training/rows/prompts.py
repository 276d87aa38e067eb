"""What online RL trainers (grpo, ppo) learn from: each record's prompt, rendered by the
run's template up to the generation prompt, and the columns its rewards receive."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from plugtune.core.records import Preference, Record, RecordError, prompt_and_reference

ROW = "plugtune_row"  # the dataset column that points rewards at their record's columns
# Keyword arguments TRL hands every reward itself: a record column may not shadow them.
RESERVED = frozenset({"prompt", "prompts", "completion", "completions", "completion_ids",
                      "trainer_state", "log_extra", "log_metric", "environments", ROW})


def reward_columns(record: Record) -> dict[str, Any]:
    """The columns a reward receives for ``record``: its fields (``meta``), its
    reference as ``answer`` (the first, when several are acceptable), and a preference
    pair's answers as ``gold_answers`` and ``bad_answers``."""
    prompt, reference = prompt_and_reference(record)
    row = {key: value for key, value in prompt.meta.items() if key not in RESERVED}
    if reference is not None:
        row.setdefault("answer", reference if isinstance(reference, str) else reference[0])
    if isinstance(record, Preference):
        row.setdefault("gold_answers", [record.chosen.content])
        row.setdefault("bad_answers", [record.rejected.content])
    return row


def prompt_rows(
    records: Iterable[Record], template: Any, tokenizer: Any, trainer: str = "grpo"
) -> tuple[list[str], list[dict[str, Any]]]:
    """Each record's prompt as plain text (rendered by ``template`` with the generation
    prompt) and its :func:`reward_columns`; a record without a user (or tool) turn to
    answer, or with images, is an error naming it."""
    from plugtune.training.rows.images import text_only

    bos = tokenizer.bos_token
    # A tokenizer that adds BOS itself would get a second one from the rendered text.
    strip_bos = bool(bos) and tokenizer("x").input_ids[:1] == [tokenizer.bos_token_id]
    texts: list[str] = []
    columns: list[dict[str, Any]] = []
    for record in records:
        text_only(record, trainer)
        prompt, _ = prompt_and_reference(record)
        if not prompt.messages or prompt.messages[-1].role not in ("user", "tool"):
            raise RecordError(record.origin, "messages",
                              f"{trainer} needs a user (or tool) turn to answer")
        text = template.render(prompt, add_generation_prompt=True)
        texts.append(text[len(bos):] if strip_bos and text.startswith(bos) else text)
        columns.append(reward_columns(record))
    return texts, columns


class RewardColumns:
    """The records' reward columns, handed to rewards a batch at a time: every reward
    gets every column any record has (None where a record lacks it), so a batch without
    an ``answer`` still passes one."""

    def __init__(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self.rows = list(rows)
        self.names = sorted({key for row in self.rows for key in row})

    def batch(self, indices: Iterable[int]) -> dict[str, list[Any]]:
        """One list per column, one value per record numbered in ``indices``."""
        picked = [self.rows[index] for index in indices]
        return {name: [row.get(name) for row in picked] for name in self.names}
