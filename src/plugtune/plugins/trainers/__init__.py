"""Built-in trainers: supervised fine-tuning, continued pretraining, GRPO, PPO, and the
preference trainers dpo, kto and rm."""

from __future__ import annotations

from typing import Any

from plugtune.core.hookspecs import hookimpl
from plugtune.plugins.trainers.dpo import DirectPreferenceOptimization, DPOOptions
from plugtune.plugins.trainers.grpo import GroupRelativePolicyOptimization, GRPOOptions
from plugtune.plugins.trainers.kto import KahnemanTverskyOptimization, KTOOptions
from plugtune.plugins.trainers.ppo import PPOOptions, ProximalPolicyOptimization
from plugtune.plugins.trainers.pt import Pretraining, PretrainingOptions
from plugtune.plugins.trainers.rm import RewardModeling, RewardOptions
from plugtune.plugins.trainers.sft import SupervisedFineTuning


@hookimpl
def register_trainers(register: Any) -> None:
    register("sft", SupervisedFineTuning)
    register("pt", Pretraining, options=PretrainingOptions)
    register("grpo", GroupRelativePolicyOptimization, options=GRPOOptions)
    register("ppo", ProximalPolicyOptimization, options=PPOOptions)
    register("dpo", DirectPreferenceOptimization, options=DPOOptions)
    register("kto", KahnemanTverskyOptimization, options=KTOOptions)
    register("rm", RewardModeling, options=RewardOptions)
