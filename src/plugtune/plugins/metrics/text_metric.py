"""What the text metrics share: references as lists, Chinese segmentation, a base class.

A text metric is a class with an ``Options`` model: the registry builds it with the
config's options, and the instance scores the corpus when called
(``metric(predictions, references) -> dict[str, float]``, what ``predict`` uses) and each
sample with ``metric.score_samples(predictions, references) -> list[dict[str, float]]``.
A reference is one string or a list of strings (several references per sample).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict

from plugtune.core.errors import ConfigError

Language = Literal["en", "zh"]
References = Sequence[str | Sequence[str]]

# Words (letters, digits, underscore) or single non-space symbols.
_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)
# One CJK ideograph (the blocks jieba and sacrebleu's zh tokenizer treat as Chinese).
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")


class MetricOptions(BaseModel):
    """Options every text metric takes."""

    model_config = ConfigDict(extra="forbid")

    language: Language = "en"
    """``zh``: segment Chinese into words (jieba) before counting n-grams."""


def reference_lists(
    name: str, predictions: Sequence[str], references: References
) -> list[list[str]]:
    """Each sample's references as a non-empty list; the counts must match."""
    if isinstance(predictions, str) or isinstance(references, str):
        raise ConfigError(f"{name}: predictions and references are lists of strings")
    if len(predictions) != len(references):
        raise ConfigError(
            f"{name}: {len(predictions)} predictions but {len(references)} references"
        )
    lists: list[list[str]] = []
    for index, reference in enumerate(references):
        candidates = [reference] if isinstance(reference, str) else list(reference)
        if not candidates or not all(isinstance(item, str) for item in candidates):
            raise ConfigError(
                f"{name}: sample {index} needs a reference string or a non-empty list of "
                f"them, got {reference!r}"
            )
        lists.append(candidates)
    return lists


@lru_cache(maxsize=1)
def _jieba() -> object | None:
    try:
        import jieba
    except ImportError:
        return None
    jieba.setLogLevel(logging.WARNING)
    return jieba


def split_words(text: str, language: str = "en") -> list[str]:
    """The words of ``text``: for ``en``, runs of letters/digits and single symbols; for
    ``zh``, jieba's words (Chinese characters one by one when jieba is not installed),
    whitespace dropped."""
    if language != "zh":
        return _WORD.findall(text)
    jieba = _jieba()
    if jieba is None:
        return [token for word in _WORD.findall(text) for token in _split_cjk(word)]
    return [word for word in jieba.cut(text) if word.strip()]  # type: ignore[attr-defined]


def _split_cjk(word: str) -> list[str]:
    """``"abc中文"`` -> ``["abc", "中", "文"]``: CJK characters alone, the rest kept."""
    if not _CJK.search(word):
        return [word]
    return [part for part in re.split(f"({_CJK.pattern})", word) if part]


def segment(text: str, language: str = "en") -> str:
    """``text`` with its words separated by single spaces for ``zh`` (unchanged for
    ``en``): what whitespace-tokenizing scorers need to see Chinese words."""
    if language != "zh":
        return text
    return " ".join(split_words(unicodedata.normalize("NFKC", text), "zh"))


class TextMetric:
    """Base of the built-in text metrics: corpus scores when called, per-sample scores
    from :meth:`score_samples`. Subclasses set ``name`` and ``Options``."""

    name = "text_metric"
    Options: type[MetricOptions] = MetricOptions

    def __init__(self, **options: object) -> None:
        self.options = self.Options.model_validate(options)

    @property
    def language(self) -> str:
        return self.options.language

    def __call__(self, predictions: Sequence[str], references: References) -> dict[str, float]:
        raise NotImplementedError

    def score_samples(
        self, predictions: Sequence[str], references: References
    ) -> list[dict[str, float]]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.options!r})"


def mean_scores(samples: Sequence[dict[str, float]], keys: Sequence[str]) -> dict[str, float]:
    """The mean of each key over the samples (0.0 for no samples)."""
    if not samples:
        return dict.fromkeys(keys, 0.0)
    return {key: sum(sample[key] for sample in samples) / len(samples) for key in keys}
