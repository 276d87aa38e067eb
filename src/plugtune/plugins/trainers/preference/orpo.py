"""``orpo``: Odds Ratio Preference Optimization on preference pairs, without a reference
model (Hong et al. 2024; TRL's experimental ``ORPOTrainer``).

The loss is the chosen answer's negative log-likelihood (the SFT term) minus ``beta``
times the mean log-sigmoid of the log odds ratio of the chosen over the rejected answer,
each answer's log-probability averaged over its tokens. One deliberate difference from
TRL's trainer: TRL's SFT term covers the prompt tokens too; plugtune's covers the answer
tokens only, as LLaMA-Factory's ORPO does and as every plugtune trainer keeps the prompt
out of the loss. The pairs are those dpo learns from
(:mod:`.preference_examples`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from plugtune.core.interfaces import TrainingRun


class ORPOOptions(BaseModel):
    """ORPO's weight; any other ``ORPOConfig`` field may go in ``training`` by name."""

    model_config = ConfigDict(extra="forbid")

    beta: float = Field(
        0.1, gt=0.0, description="Weight of the odds-ratio term against the SFT term (lambda)."
    )


def orpo_trainer_class() -> type:
    """TRL's ``ORPOTrainer`` on plugtune's rows, its SFT term over the answer tokens."""
    import torch.nn.functional as functional
    from trl.experimental.orpo import ORPOTrainer
    from trl.experimental.utils import pad_to_length

    from plugtune.compat.trl import with_chosen_nll
    from plugtune.data.encoding import IGNORE_INDEX
    from plugtune.plugins.trainers.preference.pair_sequences import tokenized_pairs

    def answer_nll(chosen_logits: Any, batch: dict[str, Any]) -> Any:
        labels = pad_to_length(batch["chosen_labels"], chosen_logits.shape[1] + 1, IGNORE_INDEX)
        return functional.cross_entropy(chosen_logits.flatten(0, 1).float(),
                                        labels[:, 1:].flatten().to(chosen_logits.device),
                                        ignore_index=IGNORE_INDEX)

    return with_chosen_nll(tokenized_pairs(ORPOTrainer), answer_nll)


class OddsRatioPreferenceOptimization:
    """Prefer each pair's chosen answer by its odds, while learning it (no reference)."""

    def __init__(self, **options: Any) -> None:
        self.options = ORPOOptions(**options)

    def train(self, run: TrainingRun) -> dict[str, float]:
        from trl.experimental.orpo import ORPOConfig

        from plugtune.plugins.trainers.preference.pair_sequences import train_on_pair_sequences

        return train_on_pair_sequences(run, "orpo", orpo_trainer_class(), ORPOConfig,
                                       self.options.model_dump())
