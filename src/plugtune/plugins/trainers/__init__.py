"""Built-in trainers: supervised fine-tuning, continued pretraining, GRPO, PPO, the
preference trainers dpo, kto and rm, and the reference-free orpo, cpo and simpo. One
algorithm, one place: ``sft.py`` and ``pt.py`` are one module each; ``grpo/``, ``ppo/``,
``preference/``, ``orpo/``, ``cpo/`` and ``simpo/`` hold their options, trainers and
private helpers; what several share is the library's (``plugtune.training``)."""

from __future__ import annotations

from plugtune.core.hookspecs import hookimpl
from plugtune.core.interfaces import Register
from plugtune.plugins.trainers.cpo import ContrastivePreferenceOptimization, CPOOptions
from plugtune.plugins.trainers.grpo import GroupRelativePolicyOptimization, GRPOOptions
from plugtune.plugins.trainers.orpo import OddsRatioPreferenceOptimization, ORPOOptions
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
from plugtune.plugins.trainers.simpo import SimplePreferenceOptimization, SimPOOptions


@hookimpl
def register_trainers(register: Register) -> None:
    register("sft", SupervisedFineTuning)
    register("pt", Pretraining, options=PretrainingOptions)
    register("grpo", GroupRelativePolicyOptimization, options=GRPOOptions)
    register("ppo", ProximalPolicyOptimization, options=PPOOptions)
    register("dpo", DirectPreferenceOptimization, options=DPOOptions)
    register("kto", KahnemanTverskyOptimization, options=KTOOptions)
    register("rm", RewardModeling, options=RewardOptions)
    register("orpo", OddsRatioPreferenceOptimization, options=ORPOOptions)
    register("cpo", ContrastivePreferenceOptimization, options=CPOOptions)
    register("simpo", SimplePreferenceOptimization, options=SimPOOptions)
