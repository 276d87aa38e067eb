"""``simpo``: Simple Preference Optimization (TRL's experimental ``CPOTrainer``, loss simpo)."""

from plugtune.plugins.trainers.simpo.trainer import SimplePreferenceOptimization, SimPOOptions

__all__ = ["SimPOOptions", "SimplePreferenceOptimization"]
