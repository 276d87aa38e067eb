"""A custom GRPO reward in a file (``rewards: [examples/rewards/answer_format.py:bare_number]``):
1.0 for a completion that is only a number, as the prompts ask ("Answer with the number
only."), else 0.0. Beside the built-in ``accuracy`` it rewards the format, not the sum."""

from __future__ import annotations

import re
from typing import Any

from plugtune.sdk.reward_text import completion_text


def bare_number(completions: list[Any], **columns: Any) -> list[float]:
    """1.0 where the whole completion is one number ("80", " -3 "), else 0.0."""
    return [1.0 if re.fullmatch(r"\s*-?\d+\s*", completion_text(c)) else 0.0
            for c in completions]
