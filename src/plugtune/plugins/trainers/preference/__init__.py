"""The preference family, TRL's trainers underneath: ``dpo`` (pairs), ``kto`` (answers
labelled desirable or not), ``rm`` (a reward model from pairs) and the reference-free
``orpo``, ``cpo`` and ``simpo`` (TRL's experimental trainers). What they share lives here
too: which records give which examples (:mod:`.preference_examples`), how those become
token rows (:mod:`.preference_rows`), whole pair sequences for the reference-free three
(:mod:`.pair_sequences`), pairs with images (:mod:`.image_pairs`) and how a TRL trainer
runs the plugtune way (:mod:`.trl_runs`), with its fused log-probability calls padding-free
(:mod:`.flat_fused_calls`)."""

from plugtune.plugins.trainers.preference.cpo import ContrastivePreferenceOptimization, CPOOptions
from plugtune.plugins.trainers.preference.dpo import DirectPreferenceOptimization, DPOOptions
from plugtune.plugins.trainers.preference.kto import KahnemanTverskyOptimization, KTOOptions
from plugtune.plugins.trainers.preference.orpo import (
    OddsRatioPreferenceOptimization,
    ORPOOptions,
)
from plugtune.plugins.trainers.preference.rm import RewardModeling, RewardOptions
from plugtune.plugins.trainers.preference.simpo import (
    SimplePreferenceOptimization,
    SimPOOptions,
)

__all__ = [
    "CPOOptions",
    "ContrastivePreferenceOptimization",
    "DPOOptions",
    "DirectPreferenceOptimization",
    "KTOOptions",
    "KahnemanTverskyOptimization",
    "ORPOOptions",
    "OddsRatioPreferenceOptimization",
    "RewardModeling",
    "RewardOptions",
    "SimPOOptions",
    "SimplePreferenceOptimization",
]
