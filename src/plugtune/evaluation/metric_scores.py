"""A run's metrics: built with the run's language, and their corpus and per-sample scores.

What ``predict`` (and so ``plugtune predict`` and generation tasks of ``plugtune eval``)
uses. Text metrics score strings; model metrics (perplexity) get a scorer, made only
when one of them is configured (it may load the model).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from plugtune.core.config import ComponentRef, RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import AnswerScorer, MetricScores, ModelMetric, SampleMetric
from plugtune.core.records import Conversation
from plugtune.core.session import Session

log = logging.getLogger(__name__)

Metrics = list[tuple[ComponentRef, Any]]
# Per sample: {metric name: {score key: value}}.
SampleScores = dict[str, dict[str, float]]


@dataclass
class Scores:
    """Every metric's corpus scores in one mapping, and one :data:`SampleScores` per
    record (metrics without per-sample scores are absent from it)."""

    corpus: dict[str, float] = field(default_factory=dict)
    samples: list[SampleScores] = field(default_factory=list)


def build_metrics(config: RunConfig, session: Session) -> Metrics:
    """``evaluation.metrics``, built; ``evaluation.language`` is given to every metric
    that has a ``language`` option, unless the metric's own options set it."""
    built: Metrics = []
    for ref in config.evaluation.metrics:
        model = session.component("metrics", ref).options_model
        if model is not None and "language" in model.model_fields and "language" not in ref.options:
            ref = ComponentRef.model_validate(
                {"name": ref.name, **ref.options, "language": config.evaluation.language}
            )
        built.append((ref, session.build("metrics", ref)))
    return built


def score_metrics(
    metrics: Metrics,
    predictions: Sequence[str],
    references: Sequence[Any],
    prompts: Sequence[Conversation] = (),
    scorer: Callable[[], AnswerScorer] | None = None,
) -> Scores:
    """Score the predictions with each metric; ``scorer`` makes the model scorer that
    model metrics need (called at most once, only if there is one)."""
    scores = Scores(samples=[{} for _ in predictions])
    made: AnswerScorer | None = None
    for ref, metric in metrics:
        if needs_model(metric):
            if scorer is None:
                raise ConfigError(f"metric {ref.name!r} scores with the model, and none is "
                                  "loaded here (use the transformers backend)")
            made = made or scorer()
            result = metric.score_with_model(
                made, list(prompts), list(references))
        else:
            result = _text_scores(ref, metric, list(predictions), list(references))
        for key, value in result.corpus.items():
            if key in scores.corpus:
                log.warning("metric %r overwrites the score %r of an earlier metric", ref.name, key)
            scores.corpus[key] = float(value)
        for sample, values in zip(scores.samples, result.samples or [], strict=False):
            sample[ref.name] = {key: float(value) for key, value in values.items()}
    return scores


def needs_model(metric: object) -> bool:
    """Whether ``metric`` scores with the model (a :class:`ModelMetric` that says so)."""
    return isinstance(metric, ModelMetric) and metric.needs_model is True


def _text_scores(
    ref: ComponentRef, metric: Any, predictions: list[str], references: list[Any]
) -> MetricScores:
    corpus = metric(predictions, references)
    if not isinstance(corpus, dict):
        raise ConfigError(f"metric {ref.name!r} returned {type(corpus).__name__}, not a dict")
    samples = (metric.score_samples(predictions, references)
               if isinstance(metric, SampleMetric) else None)
    if samples is not None and len(samples) != len(predictions):
        raise ConfigError(f"metric {ref.name!r}: {len(samples)} sample scores for "
                          f"{len(predictions)} predictions")
    return MetricScores(corpus, samples)
