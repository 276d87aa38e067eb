"""``accuracy``: 1.0 when the completion's answer matches the record's reference answer."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from plugtune.sdk.reward_text import (
    as_list,
    check_pattern,
    column,
    compile_pattern,
    completion_text,
    extract,
    last_number,
    normalize,
    parse_number,
)

ANSWER_TAG = r"<answer>(.*?)</answer>"


class AccuracyOptions(BaseModel):
    """Compare the answer ``extract`` finds (its first group, last match) with the
    ``column`` of the record: as numbers when the reference is one (within
    ``tolerance``), else as normalised text. A list of references matches if any does;
    a sample without a reference gets None (the reward does not apply)."""

    model_config = ConfigDict(extra="forbid")

    column: str = Field("answer", min_length=1, description="The reference answer column.")
    extract: str | None = Field(
        ANSWER_TAG, description="Regex for the answer in the completion; None: the whole text."
    )
    require_match: bool = Field(
        False,
        description="A completion the regex finds nothing in scores 0.0; False: fall back to "
        "its last number (numeric references) or its whole text.",
    )
    tolerance: float = Field(
        1e-6, ge=0.0, description="Numbers match when |a - b| <= tolerance * max(1, |b|)."
    )

    @field_validator("extract")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        return check_pattern(pattern) or None


def reference_number(reference: Any) -> float | None:
    """A reference answer as a number, if it is one (``7``, ``"1,000"``, ``"1/2"``)."""
    if isinstance(reference, bool):
        return None
    if isinstance(reference, (int, float)):
        return float(reference) if math.isfinite(reference) else None
    return parse_number(str(reference))


def answer_matches(answer: str, reference: Any, tolerance: float = 1e-6) -> bool:
    """Whether an extracted ``answer`` matches one ``reference`` (see AccuracyOptions).

    >>> answer_matches("The total is 1,234.", 1234), answer_matches(" 北京。", "北京")
    (True, True)
    """
    expected = reference_number(reference)
    if expected is None:
        return normalize(answer) == normalize(str(reference))
    found = parse_number(answer)
    if found is None:
        found = last_number(answer)
    return found is not None and abs(found - expected) <= tolerance * max(1.0, abs(expected))


def accuracy_reward(
    column: str = "answer",
    extract: str | None = ANSWER_TAG,
    require_match: bool = False,
    tolerance: float = 1e-6,
) -> Callable[..., list[float | None]]:
    """Reward 1.0 when the extracted answer matches the reference answer, else 0.0."""
    return _accuracy(column, extract, require_match, tolerance)


def _accuracy(
    name: str, pattern: str | None, require_match: bool, tolerance: float
) -> Callable[..., list[float | None]]:
    compiled = compile_pattern(pattern) if pattern else None

    def score(completion: Any, references: list[Any]) -> float | None:
        references = [r for r in references if str(r).strip()]
        if not references:
            return None
        text = completion_text(completion)
        answer = extract(text, compiled)
        if answer is None:
            if require_match:
                return 0.0
            answer = text
        return 1.0 if any(answer_matches(answer, r, tolerance) for r in references) else 0.0

    def reward(
        prompts: Sequence[Any], completions: Sequence[Any], **columns: Any
    ) -> list[float | None]:
        references = column(columns, name, len(completions), "accuracy")
        return [score(c, as_list(r)) for c, r in zip(completions, references, strict=True)]

    return reward
