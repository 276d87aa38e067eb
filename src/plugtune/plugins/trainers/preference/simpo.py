"""``simpo``: Simple Preference Optimization on preference pairs, without a reference
model (Meng et al. 2024; TRL's experimental ``CPOTrainer`` with ``loss_type: simpo``).

The reward of an answer is ``beta`` times its log-probability averaged over its tokens;
the loss is ``-log σ(β (avg log π(chosen) - avg log π(rejected)) - γ)`` with the target
margin ``simpo_gamma``, plus ``cpo_alpha`` times the chosen answer's NLL (0 by default:
SimPO as published, and as LLaMA-Factory's ``pref_loss: simpo`` runs it). The pairs are
those dpo learns from (:mod:`.preference_examples`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from plugtune.core.interfaces import TrainingRun


class SimPOOptions(BaseModel):
    """SimPO's knobs; any other ``CPOConfig`` field may go in ``training`` by name."""

    model_config = ConfigDict(extra="forbid")

    beta: float = Field(0.1, gt=0.0, description="Scale of the length-normalised reward.")
    simpo_gamma: float = Field(
        0.5, ge=0.0, description="Target reward margin between chosen and rejected."
    )
    cpo_alpha: float = Field(
        0.0, ge=0.0, description="Weight of the chosen answer's NLL (0: SimPO as published)."
    )


class SimplePreferenceOptimization:
    """Prefer each pair's chosen answer by a margin of length-normalised rewards (TRL's
    CPOTrainer with its SimPO loss, on plugtune's rows, model and callbacks)."""

    def __init__(self, **options: Any) -> None:
        self.options = SimPOOptions(**options)

    def train(self, run: TrainingRun) -> dict[str, float]:
        from trl.experimental.cpo import CPOConfig, CPOTrainer

        from plugtune.plugins.trainers.preference.pair_sequences import (
            tokenized_pairs,
            train_on_pair_sequences,
        )

        options = {**self.options.model_dump(), "loss_type": "simpo"}
        return train_on_pair_sequences(run, "simpo", tokenized_pairs(CPOTrainer), CPOConfig,
                                       options)
