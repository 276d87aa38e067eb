"""GRPO: the trainer (:mod:`.trainer`), its options (:mod:`.options`) and the guards
that catch its traps before a run spends its compute (:mod:`.checks`)."""

from plugtune.plugins.trainers.grpo.options import GRPOOptions
from plugtune.plugins.trainers.grpo.trainer import GroupRelativePolicyOptimization

__all__ = ["GRPOOptions", "GroupRelativePolicyOptimization"]
