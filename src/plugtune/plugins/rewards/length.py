"""``length``: reward completions for being close to a target length."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from plugtune.sdk.reward_text import completion_text, words


class LengthOptions(BaseModel):
    """1.0 within ``tolerance`` of ``target``; beyond it the reward falls off with the
    ``shape``: linear reaches 0 ``width`` past the tolerance, gaussian is
    ``exp(-(excess / width)² / 2)``."""

    model_config = ConfigDict(extra="forbid")

    target: int = Field(gt=0, description="The wanted length, in units.")
    unit: Literal["words", "chars"] = Field(
        "words", description="words: letter/digit runs, one per CJK character; chars: characters."
    )
    shape: Literal["linear", "gaussian"] = "linear"
    tolerance: int = Field(0, ge=0, description="Distance from the target that still scores 1.")
    width: float | None = Field(
        None, gt=0, description="How fast the reward falls past the tolerance; None: target."
    )
    penalize: Literal["both", "longer", "shorter"] = Field(
        "both", description="Which side of the target costs: both, or only longer / shorter."
    )


def measure(text: str, unit: str) -> int:
    """The length of ``text`` in ``unit`` (``words`` or ``chars``, whitespace trimmed)."""
    return len(words(text)) if unit == "words" else len(text.strip())


def length_reward(
    target: int,
    unit: str = "words",
    shape: str = "linear",
    tolerance: int = 0,
    width: float | None = None,
    penalize: str = "both",
) -> Callable[..., list[float]]:
    """Reward in [0, 1] for completions close to a target length."""
    scale = width if width is not None else float(target)

    def score(size: int) -> float:
        distance = size - target
        if (penalize == "longer" and distance < 0) or (penalize == "shorter" and distance > 0):
            return 1.0
        excess = max(0.0, abs(distance) - tolerance)
        if shape == "gaussian":
            return math.exp(-0.5 * (excess / scale) ** 2)
        return max(0.0, 1.0 - excess / scale)

    def reward(prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float]:
        return [score(measure(completion_text(c), unit)) for c in completions]

    return reward
