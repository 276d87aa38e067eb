"""Built-in trainers: supervised fine-tuning, continued pretraining, GRPO, RLOO, PPO, the
preference trainers dpo, kto and rm, and the reference-free orpo, cpo and simpo. One
algorithm, one place: ``sft.py`` and ``pt.py`` are one module each; ``grpo/`` (with
rloo) and ``ppo/`` hold their options, trainers and private helpers; ``preference/`` is the
preference family's home (dpo, kto, rm, orpo, cpo, simpo and the rows, pair sequences,
image pairs and TRL run glue they share); what every trainer shares is the library's
(``plugtune.training``)."""

from __future__ import annotations

from plugtune.core.hookspecs import hookimpl
from plugtune.core.interfaces import Register
from plugtune.plugins.trainers.grpo import (
    GroupRelativePolicyOptimization,
    GRPOOptions,
    ReinforceLeaveOneOut,
    RLOOOptions,
)
from plugtune.plugins.trainers.ppo import PPOOptions, ProximalPolicyOptimization
from plugtune.plugins.trainers.preference import (
    ContrastivePreferenceOptimization,
    CPOOptions,
    DirectPreferenceOptimization,
    DPOOptions,
    KahnemanTverskyOptimization,
    KTOOptions,
    OddsRatioPreferenceOptimization,
    ORPOOptions,
    RewardModeling,
    RewardOptions,
    SimplePreferenceOptimization,
    SimPOOptions,
)
from plugtune.plugins.trainers.pt import Pretraining, PretrainingOptions
from plugtune.plugins.trainers.sft import SupervisedFineTuning


@hookimpl
def register_trainers(register: Register) -> None:
    register("sft", SupervisedFineTuning)
    register("pt", Pretraining, options=PretrainingOptions)
    register("grpo", GroupRelativePolicyOptimization, options=GRPOOptions)
    register("rloo", ReinforceLeaveOneOut, options=RLOOOptions)
    register("ppo", ProximalPolicyOptimization, options=PPOOptions)
    register("dpo", DirectPreferenceOptimization, options=DPOOptions)
    register("kto", KahnemanTverskyOptimization, options=KTOOptions)
    register("rm", RewardModeling, options=RewardOptions)
    register("orpo", OddsRatioPreferenceOptimization, options=ORPOOptions)
    register("cpo", ContrastivePreferenceOptimization, options=CPOOptions)
    register("simpo", SimplePreferenceOptimization, options=SimPOOptions)
