"""``orpo``: Odds Ratio Preference Optimization (TRL's experimental ``ORPOTrainer``)."""

from plugtune.plugins.trainers.orpo.trainer import OddsRatioPreferenceOptimization, ORPOOptions

__all__ = ["ORPOOptions", "OddsRatioPreferenceOptimization"]
