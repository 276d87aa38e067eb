"""``cpo``: Contrastive Preference Optimization (TRL's experimental ``CPOTrainer``)."""

from plugtune.plugins.trainers.cpo.trainer import ContrastivePreferenceOptimization, CPOOptions

__all__ = ["CPOOptions", "ContrastivePreferenceOptimization"]
