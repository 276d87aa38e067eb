"""``rm``: a reward model trained on preference pairs (TRL's ``RewardTrainer``).

The model is the configured one with a one-output ``score`` head
(``AutoModelForSequenceClassification``); LoRA trains adapters and the head in full,
and ``model.adapter`` (an SFT adapter) is merged in first. Each pair's prompt and
answer are rendered by the run's template up to the answer's end-of-turn token, and
the score of the last token is the reward; the loss pushes the chosen reward above
the rejected one (Bradley-Terry).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from plugtune.core.interfaces import TrainingRun

PLOT_KEYS = ("margin", "accuracy", "mean_reward")


class RewardOptions(BaseModel):
    """The reward-model knobs; any other ``trl.RewardConfig`` field may go in
    ``training`` by name."""

    model_config = ConfigDict(extra="forbid")

    center_rewards_coefficient: float | None = Field(
        None, ge=0.0,
        description="Weight of a penalty on the squared rewards, keeping them near 0.",
    )


class RewardModeling:
    """Score answers so that the chosen one of each pair beats the rejected one
    (TRL's RewardTrainer on plugtune's rows, model and callbacks)."""

    def __init__(self, **options: Any) -> None:
        self.options = RewardOptions(**options)

    def train(self, run: TrainingRun) -> dict[str, float]:
        from transformers import set_seed
        from trl import RewardConfig, RewardTrainer

        from plugtune.plugins.trainers.preference.trl_runs import (
            pair_rows_by_split,
            train_with_trl,
            trl_arguments,
        )
        from plugtune.training.run.finetuning import trainable_model

        config = run.config
        pairs = pair_rows_by_split(run, "rm", whole=True)
        rows, tokenizer = pairs.rows, pairs.tokenizer
        # The rows fit data.cutoff_len already; TRL's max_length would only run a filter.
        options = {**self.options.model_dump(), "max_length": None}
        args = trl_arguments(run, RewardConfig, "rm", options, has_eval=bool(rows["eval"]))
        set_seed(config.training.seed)  # the score head and the adapter: runs repeat
        model = trainable_model(config, run.session, task="reward")
        return train_with_trl(
            run, "rm", RewardTrainer, model=model, args=args, tokenizer=tokenizer,
            train=rows["train"], evaluation=rows["eval"], plot_keys=PLOT_KEYS,
        )
