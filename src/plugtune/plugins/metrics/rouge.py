"""ROUGE-1..4 and ROUGE-L F-measures, computed by Google's rouge-score (0–1).

rouge-score's own tokenizer lowercases and keeps only ``[a-z0-9]`` runs, so Chinese text
scores 0. With ``language: zh`` the text is segmented with jieba (Chinese characters one
by one without jieba) and those words are what ROUGE counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from plugtune.core.errors import ConfigError
from plugtune.plugins.metrics.text_metric import (
    MetricOptions,
    References,
    TextMetric,
    mean_scores,
    reference_lists,
    split_words,
)

_TYPES = {"rouge-1": "rouge1", "rouge-2": "rouge2", "rouge-3": "rouge3",
          "rouge-4": "rouge4", "rouge-l": "rougeL"}


class _ChineseTokenizer:
    """What rouge-score calls to split a text: jieba words, lowercased."""

    def tokenize(self, text: str) -> list[str]:
        return [word.lower() for word in split_words(text, "zh")]


class RougeOptions(MetricOptions):
    use_stemmer: bool = Field(
        False, description="Porter-stem English words (rouge-score's use_stemmer)."
    )


class Rouge(TextMetric):
    """ROUGE-1..4 and ROUGE-L (rouge-score): F-measure against the best reference; the
    corpus score is the mean over the samples."""

    name = "rouge"
    Options = RougeOptions
    options: RougeOptions
    keys: tuple[str, ...] = tuple(_TYPES)

    def _scorer(self) -> Any:
        try:
            from rouge_score.rouge_scorer import RougeScorer
        except ImportError as error:
            raise ConfigError("rouge needs rouge-score: pip install 'plugtune[eval]'") from error
        tokenizer = _ChineseTokenizer() if self.language == "zh" else None
        return RougeScorer(
            list(_TYPES.values()), use_stemmer=self.options.use_stemmer, tokenizer=tokenizer
        )

    def score_samples(
        self, predictions: Sequence[str], references: References
    ) -> list[dict[str, float]]:
        refs = reference_lists(self.name, predictions, references)
        scorer = self._scorer()
        samples = []
        for prediction, candidates in zip(predictions, refs, strict=True):
            # score_multi: the best reference per type (numpy's argmax each), for one
            # reference the same as score
            scores = (scorer.score(candidates[0], prediction) if len(candidates) == 1
                      else scorer.score_multi(candidates, prediction))
            samples.append({key: scores[kind].fmeasure for key, kind in _TYPES.items()})
        return samples

    def __call__(self, predictions: Sequence[str], references: References) -> dict[str, float]:
        return mean_scores(self.score_samples(predictions, references), self.keys)
