"""``format``: reward completions laid out as a pattern says, by default
``<reasoning>…</reasoning><answer>…</answer>``."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from plugtune.sdk.reward_text import check_pattern, compile_pattern, completion_text

REASONING_ANSWER = r"<reasoning>.*?</reasoning>\s*<answer>.*?</answer>"


class FormatOptions(BaseModel):
    """1.0 when the whole completion (stripped) matches ``pattern``, else 0.0; with
    ``partial``, a completion that does not match still earns up to 0.5: 0.5 times the
    share of ``tags`` that appear as an ``<tag>…</tag>`` pair."""

    model_config = ConfigDict(extra="forbid")

    pattern: str = Field(REASONING_ANSWER, min_length=1, description="A Python regex.")
    full_match: bool = Field(True, description="False: the pattern may match anywhere.")
    dotall: bool = Field(True, description="'.' matches newlines too.")
    ignore_case: bool = False
    partial: bool = Field(False, description="Partial credit for the tags that are present.")
    tags: list[str] = Field(
        default_factory=lambda: ["reasoning", "answer"], description="Tags for partial credit."
    )

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        return check_pattern(pattern) or pattern


def format_reward(
    pattern: str = REASONING_ANSWER,
    full_match: bool = True,
    dotall: bool = True,
    ignore_case: bool = False,
    partial: bool = False,
    tags: Sequence[str] = ("reasoning", "answer"),
) -> Callable[..., list[float]]:
    """Reward 1.0 for completions in the expected format, else 0.0 (or partial credit)."""
    compiled = compile_pattern(pattern, dotall=dotall, ignore_case=ignore_case)
    pairs = [
        re.compile(rf"<{re.escape(tag)}>.*?</{re.escape(tag)}>", re.DOTALL) for tag in tags
    ]

    def score(text: str) -> float:
        text = text.strip()
        matched = compiled.fullmatch(text) if full_match else compiled.search(text)
        if matched:
            return 1.0
        if not partial or not pairs:
            return 0.0
        return 0.5 * sum(bool(pair.search(text)) for pair in pairs) / len(pairs)

    def reward(prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float]:
        return [score(completion_text(c)) for c in completions]

    return reward
