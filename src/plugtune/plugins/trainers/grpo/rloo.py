"""``rloo``: REINFORCE Leave-One-Out on TRL's ``RLOOTrainer``, with everything grpo
brings — the run's prompts rendered by its template, the rewards of the ``rewards:``
section with their records' columns, the guards and the logs — and RLOO's advantage:
each completion's reward minus the mean of the other completions of its prompt (Ahmadian
et al., 2024), with the KL to the reference model in the reward (``beta``)."""

from __future__ import annotations

from plugtune.plugins.trainers.grpo.options import RLOOOptions
from plugtune.plugins.trainers.grpo.trainer import GroupRelativePolicyOptimization


class ReinforceLeaveOneOut(GroupRelativePolicyOptimization):
    """Sample groups of completions per prompt and push each one by its reward above the
    others' mean (TRL's RLOOTrainer)."""

    Options = RLOOOptions
    TRL_TRAINER, TRL_CONFIG = "RLOOTrainer", "RLOOConfig"
