"""Perplexity of the references under the model, given the prompts (teacher forcing).

``perplexity = exp(total NLL / total answer tokens)`` over the corpus, and per sample
``exp(nll / tokens)`` of that sample. Only the answer's tokens count (and the template's
end of turn), encoded with the run's chat template as training encodes them. With
several references, the first is scored. It needs the model, so it is a model metric
(:class:`~plugtune.core.interfaces.ModelMetric`): ``predict`` / ``plugtune eval`` hand it a
scorer; called on strings alone it says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import AnswerScorer, MetricScores
from plugtune.core.records import Conversation
from plugtune.plugins.metrics.text_metric import reference_lists


class PerplexityOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Perplexity:
    """Perplexity of each reference answer given its prompt (lower is better)."""

    name = "perplexity"
    Options = PerplexityOptions
    needs_model = True

    def score_with_model(
        self, scorer: AnswerScorer, prompts: Sequence[Conversation], references: Sequence[Any]
    ) -> MetricScores:
        answers = [candidates[0] for candidates in reference_lists(self.name, prompts, references)]
        losses = scorer.answer_losses(prompts, answers)
        nll, tokens = sum(loss.nll for loss in losses), sum(loss.tokens for loss in losses)
        return MetricScores(
            corpus={"perplexity": math.exp(nll / tokens) if tokens else math.nan},
            samples=[{"perplexity": math.exp(loss.nll / loss.tokens)} for loss in losses],
        )

    def __call__(self, predictions: Sequence[str], references: Sequence[Any]) -> dict[str, float]:
        raise ConfigError(
            "perplexity scores the references with the model: use it in "
            "evaluation.metrics of `plugtune predict` / `plugtune eval` (or call "
            "score_with_model with a scorer)"
        )
