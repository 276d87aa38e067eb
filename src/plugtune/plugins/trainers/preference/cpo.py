"""``cpo``: Contrastive Preference Optimization on preference pairs, without a reference
model (Xu et al. 2024; TRL's experimental ``CPOTrainer``).

The loss is DPO's with the reference left out, on the policy's summed answer
log-probabilities (``sigmoid``: ``-log σ(β (log π(chosen) - log π(rejected)))``; ``hinge``;
``ipo`` on per-token averages), plus ``cpo_alpha`` times the chosen answer's negative
log-likelihood over its tokens (TRL's labels keep the prompt out). The pairs are those
dpo learns from (:mod:`.preference_examples`); ``simpo`` is the same
trainer with SimPO's loss.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from plugtune.core.interfaces import TrainingRun


class CPOOptions(BaseModel):
    """CPO's knobs; any other ``CPOConfig`` field may go in ``training`` by name."""

    model_config = ConfigDict(extra="forbid")

    beta: float = Field(0.1, gt=0.0, description="Temperature of the preference term.")
    loss_type: Literal["sigmoid", "hinge", "ipo"] = Field(
        "sigmoid", description="The preference loss (simpo: use trainer simpo)."
    )
    label_smoothing: float = Field(
        0.0, ge=0.0, lt=0.5, description="Probability that a label is flipped (sigmoid)."
    )
    cpo_alpha: float = Field(
        1.0, ge=0.0, description="Weight of the chosen answer's NLL (the SFT term)."
    )


class ContrastivePreferenceOptimization:
    """Prefer each pair's chosen answer over the rejected one, learning the chosen one
    too (TRL's CPOTrainer on plugtune's rows, model and callbacks; no reference)."""

    def __init__(self, **options: Any) -> None:
        self.options = CPOOptions(**options)

    def train(self, run: TrainingRun) -> dict[str, float]:
        from trl.experimental.cpo import CPOConfig, CPOTrainer

        from plugtune.plugins.trainers.preference.pair_sequences import (
            tokenized_pairs,
            train_on_pair_sequences,
        )

        return train_on_pair_sequences(run, "cpo", tokenized_pairs(CPOTrainer), CPOConfig,
                                       self.options.model_dump())
