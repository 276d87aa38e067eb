"""Metrics that score with the model (perplexity), and the scorer they are handed.

A text metric sees only strings (``metric(predictions, references)``); perplexity needs
the model's probabilities of the references given the prompts. Rather than giving every
metric the backend (and so the model, the tokenizer and the template, and a way to break
them), such a metric declares ``needs_model = True`` and implements
``score_with_model(scorer, prompts, references)``; ``predict`` then hands it an
:class:`AnswerScorer`, whose one job is the summed negative log-likelihood of each
answer's tokens. The metric stays free of torch and testable with a fake scorer, and
the scorer is the one place that knows how the model reads a conversation (the run's chat
template, answer tokens only, as training masks them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from plugtune.core.records import Conversation


@dataclass(frozen=True)
class AnswerLoss:
    """An answer's summed negative log-likelihood (nats) over its ``tokens`` tokens."""

    nll: float
    tokens: int


class AnswerScorer(Protocol):
    def answer_losses(
        self, prompts: Sequence[Conversation], answers: Sequence[str]
    ) -> list[AnswerLoss]:
        """One :class:`AnswerLoss` per (prompt, answer), the answer teacher-forced."""
        ...


@dataclass
class MetricScores:
    """A metric's corpus scores and, when it has them, one score dict per sample."""

    corpus: dict[str, float]
    samples: list[dict[str, float]] | None = None


class ModelMetric(Protocol):
    """A metric that scores with the model: ``needs_model = True`` and this method."""

    needs_model: bool

    def score_with_model(
        self,
        scorer: AnswerScorer,
        prompts: Sequence[Conversation],
        references: Sequence[Any],
    ) -> MetricScores: ...


def needs_model(metric: object) -> bool:
    """Whether ``metric`` scores with the model (declares ``needs_model = True``)."""
    return bool(getattr(metric, "needs_model", False))
