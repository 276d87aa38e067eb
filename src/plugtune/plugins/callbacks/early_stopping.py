"""Early stopping on an evaluation metric, as transformers implements it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from plugtune.core.errors import ConfigError


class EarlyStoppingOptions(BaseModel):
    """Stop after ``patience`` evaluations without an improvement above ``threshold``
    in ``metric`` (used when ``training.metric_for_best_model`` names none)."""

    model_config = ConfigDict(extra="forbid")

    patience: int = Field(3, gt=0)
    threshold: float = Field(0.0, ge=0.0)
    metric: str = Field("eval_loss", description="Lower is better when it names a loss.")


def early_stopping(patience: int = 3, threshold: float = 0.0, metric: str = "eval_loss") -> Any:
    """Stop training when the evaluation metric stops improving."""
    from transformers import EarlyStoppingCallback  # heavy: only when a run uses it

    class EarlyStopping(EarlyStoppingCallback):
        """transformers' callback, which asserts on a metric the config need not repeat."""

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if args.eval_strategy == "no":
                raise ConfigError(
                    "callbacks: early_stopping needs evaluations: give data.eval or "
                    "data.val_size (and training.eval_strategy if not per epoch)"
                )
            if args.metric_for_best_model is None:
                args.metric_for_best_model = metric
                args.greater_is_better = "loss" not in metric
            return super().on_train_begin(args, state, control, **kwargs)

    return EarlyStopping(early_stopping_patience=patience, early_stopping_threshold=threshold)
