"""GRPO and its sibling RLOO: the trainers (:mod:`.trainer`, :mod:`.rloo`), their
options (:mod:`.options`), agentic episodes (:mod:`.agentic`) and the guards that catch
their traps before a run spends its compute (:mod:`.checks`)."""

from plugtune.plugins.trainers.grpo.options import GRPOOptions, RLOOOptions
from plugtune.plugins.trainers.grpo.rloo import ReinforceLeaveOneOut
from plugtune.plugins.trainers.grpo.trainer import GroupRelativePolicyOptimization

__all__ = ["GRPOOptions", "GroupRelativePolicyOptimization", "RLOOOptions",
           "ReinforceLeaveOneOut"]
