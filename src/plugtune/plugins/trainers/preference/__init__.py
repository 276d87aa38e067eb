"""The preference trainers, TRL's underneath: ``dpo`` (pairs), ``kto`` (answers labelled
desirable or not) and ``rm`` (a reward model from pairs). They share which records give
which examples (:mod:`.examples`), how those become token rows (:mod:`.rows`) and how a
TRL trainer runs the plugtune way (:mod:`.trl_run`)."""

from plugtune.plugins.trainers.preference.dpo import DirectPreferenceOptimization, DPOOptions
from plugtune.plugins.trainers.preference.kto import KahnemanTverskyOptimization, KTOOptions
from plugtune.plugins.trainers.preference.rm import RewardModeling, RewardOptions

__all__ = [
    "DPOOptions",
    "DirectPreferenceOptimization",
    "KTOOptions",
    "KahnemanTverskyOptimization",
    "RewardModeling",
    "RewardOptions",
]
