"""The preference trainers, TRL's underneath: ``dpo`` (pairs), ``kto`` (answers labelled
desirable or not) and ``rm`` (a reward model from pairs). What they share with each
other and with ``orpo``, ``cpo`` and ``simpo`` is the library's: which records give which
examples (:mod:`plugtune.training.preference_examples`), how those become token rows
(:mod:`plugtune.training.preference_rows`) and how a TRL trainer runs the plugtune way
(:mod:`plugtune.training.trl_runs`)."""

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
