"""The ``keyword`` reward: a reward with options.

A reward with an options model is registered as a *factory*: plugtune validates the
run config's options (``{name: keyword, keyword: "therefore"}``) with
:class:`KeywordOptions` and calls :func:`keyword_reward` with them once, so the reward
function itself stays TRL's plain ``fn(prompts, completions, **columns)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from plugtune.core.interfaces import Reward
from plugtune.sdk.reward_text import completion_text


class KeywordOptions(BaseModel):
    """Options of the ``keyword`` reward, validated from the run config (an unknown key
    is an error with a suggestion, never ignored: ``extra="forbid"``)."""

    model_config = ConfigDict(extra="forbid")

    keyword: str = Field(min_length=1)
    case_sensitive: bool = False


def keyword_reward(keyword: str, case_sensitive: bool = False) -> Reward:
    """Reward 1.0 for completions that contain a keyword, else 0.0."""
    wanted = keyword if case_sensitive else keyword.lower()

    def reward(prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float]:
        # Completions are strings, or message lists for conversational data: the SDK
        # reads both, so this reward works with either kind of dataset.
        texts = [completion_text(completion) for completion in completions]
        if not case_sensitive:
            texts = [text.lower() for text in texts]
        return [1.0 if wanted in text else 0.0 for text in texts]

    return reward
