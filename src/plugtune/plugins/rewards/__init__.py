"""Built-in rewards for GRPO and PPO: length, format, accuracy, similarity and judge.

Each is a factory (it has an options model) returning a function in TRL's shape,
``reward(prompts, completions, **columns) -> list[float | None]`` (docs/rewards.md).
"""

from __future__ import annotations

from typing import Any

from plugtune.core.hookspecs import hookimpl
from plugtune.plugins.rewards.accuracy import AccuracyOptions, accuracy_reward
from plugtune.plugins.rewards.format import FormatOptions, format_reward
from plugtune.plugins.rewards.length import LengthOptions, length_reward
from plugtune.plugins.rewards.similarity import SimilarityOptions, similarity_reward


@hookimpl
def register_rewards(register: Any) -> None:
    register("length", length_reward, options=LengthOptions)
    register("format", format_reward, options=FormatOptions)
    register("accuracy", accuracy_reward, options=AccuracyOptions)
    register("similarity", similarity_reward, options=SimilarityOptions)
    register("judge", "plugtune.plugins.rewards.judge:JudgeReward",
             doc="A model (any backend) grades each completion against a rubric.")
