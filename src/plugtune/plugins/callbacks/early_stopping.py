"""Early stopping on the evaluation metric, as transformers implements it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EarlyStoppingOptions(BaseModel):
    """Stop after ``patience`` evaluations without an improvement above ``threshold``."""

    model_config = ConfigDict(extra="forbid")

    patience: int = Field(3, gt=0)
    threshold: float = Field(0.0, ge=0.0)


def early_stopping(patience: int = 3, threshold: float = 0.0) -> Any:
    """Stop training when the evaluation metric stops improving."""
    from transformers import EarlyStoppingCallback  # heavy: only when a run uses it

    return EarlyStoppingCallback(
        early_stopping_patience=patience, early_stopping_threshold=threshold
    )

