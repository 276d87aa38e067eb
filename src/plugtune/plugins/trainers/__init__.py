"""Built-in trainers: supervised fine-tuning, continued pretraining, GRPO, PPO, and the
preference trainers dpo, kto and rm. One algorithm, one place: ``sft.py`` and ``pt.py``
are one module each; ``grpo/``, ``ppo/`` and ``preference/`` hold their options,
trainers and private helpers."""

from __future__ import annotations

from plugtune.core.hookspecs import hookimpl
from plugtune.core.interfaces import Register
from plugtune.plugins.trainers.grpo import GroupRelativePolicyOptimization, GRPOOptions
from plugtune.plugins.trainers.ppo import PPOOptions, ProximalPolicyOptimization
from plugtune.plugins.trainers.preference import (
    DirectPreferenceOptimization,
    DPOOptions,
    KahnemanTverskyOptimization,
    KTOOptions,
    RewardModeling,
    RewardOptions,
)
from plugtune.plugins.trainers.pt import Pretraining, PretrainingOptions
from plugtune.plugins.trainers.sft import SupervisedFineTuning


@hookimpl
def register_trainers(register: Register) -> None:
    register("sft", SupervisedFineTuning)
    register("pt", Pretraining, options=PretrainingOptions)
    register("grpo", GroupRelativePolicyOptimization, options=GRPOOptions)
    register("ppo", ProximalPolicyOptimization, options=PPOOptions)
    register("dpo", DirectPreferenceOptimization, options=DPOOptions)
    register("kto", KahnemanTverskyOptimization, options=KTOOptions)
    register("rm", RewardModeling, options=RewardOptions)
