"""Rewards for GRPO and PPO: the run's reward plugins, checked, weighted and handed to TRL.

See docs/rewards.md for the contract a reward plugin follows.
"""

from __future__ import annotations

from plugtune.rewards.combine import (
    NamedReward,
    RewardError,
    load_rewards,
    trl_reward_functions,
    weighted_total,
)

__all__ = ["NamedReward", "RewardError", "load_rewards", "trl_reward_functions", "weighted_total"]
