"""METEOR, computed by nltk (0–1) with WordNet 3.0 (:mod:`.wordnet` finds or prepares
it offline), per sample and as the corpus mean."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
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
from plugtune.plugins.metrics.wordnet import load_wordnet


class _RememberedStems:
    """nltk's PorterStemmer (what meteor_score uses by default), remembering each word's
    stem: METEOR stems every word of every pair, and a corpus repeats its words."""

    def __init__(self) -> None:
        from nltk.stem.porter import PorterStemmer

        self.stem = lru_cache(maxsize=1 << 16)(PorterStemmer().stem)


class _RememberedSynsets:
    """The one WordNet lookup meteor_score makes, ``synsets(word)``, remembered per word."""

    def __init__(self, wordnet: Any) -> None:
        self.synsets = lru_cache(maxsize=1 << 16)(wordnet.synsets)


class MeteorOptions(MetricOptions):
    alpha: float = Field(0.9, ge=0, le=1, description="nltk's alpha (precision/recall mix).")
    beta: float = Field(3.0, ge=0, description="nltk's beta (fragmentation penalty shape).")
    gamma: float = Field(0.5, ge=0, le=1, description="nltk's gamma (penalty weight).")


class Meteor(TextMetric):
    """METEOR (nltk's ``meteor_score``, best reference): the corpus score is the mean
    of the sample scores. Texts are split into words first (nltk wants tokens):
    letters/digit runs and symbols, or jieba's words for ``language: zh``."""

    name = "meteor"
    Options = MeteorOptions
    options: MeteorOptions

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        self._wordnet: Any = None
        self._stemmer: Any = None

    def score_samples(
        self, predictions: Sequence[str], references: References
    ) -> list[dict[str, float]]:
        refs = reference_lists(self.name, predictions, references)
        if not refs:
            return []
        try:
            from nltk.translate.meteor_score import meteor_score
        except ImportError as error:
            raise ConfigError("meteor needs nltk: pip install 'plugtune[eval]'") from error
        if self._wordnet is None:
            self._wordnet = _RememberedSynsets(load_wordnet())
            self._stemmer = _RememberedStems()
        opts = self.options
        return [
            {"meteor": meteor_score(
                [split_words(ref, self.language) for ref in candidates],
                split_words(prediction, self.language), stemmer=self._stemmer,
                wordnet=self._wordnet, alpha=opts.alpha, beta=opts.beta, gamma=opts.gamma,
            )}
            for prediction, candidates in zip(predictions, refs, strict=True)
        ]

    def __call__(self, predictions: Sequence[str], references: References) -> dict[str, float]:
        return mean_scores(self.score_samples(predictions, references), ["meteor"])
