"""Accuracy of predicted labels (classification, multiple choice), after normalising."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from pydantic import Field, field_validator

from plugtune.plugins.metrics.text_metric import (
    MetricOptions,
    References,
    TextMetric,
    mean_scores,
    reference_lists,
)

# Trimmed from both ends of a label: whitespace, ASCII and CJK punctuation, brackets.
_EDGE = " \t\r\n.,;:!?'\"()[]{}<>。，；：！？、（）【】「」《》"


def normalize_label(text: str) -> str:
    """``"  (B). "`` -> ``"b"``: NFKC (full-width letters become ASCII), case-folded,
    inner whitespace collapsed, punctuation and brackets trimmed from the ends."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(text.strip(_EDGE).split())


class AccuracyOptions(MetricOptions):
    normalize: bool = Field(True, description="Compare normalize_label() forms, else exact.")
    choices: list[str] | None = Field(
        None,
        description="Multiple choice: the labels (e.g. [A, B, C, D]); the prediction's "
        "answer is the first choice it states ('The answer is (B)' -> B).",
    )

    @field_validator("choices")
    @classmethod
    def _non_empty(cls, choices: list[str] | None) -> list[str] | None:
        if choices is not None and (not choices or not all(c.strip() for c in choices)):
            raise ValueError("give at least one non-blank choice")
        return choices


class Accuracy(TextMetric):
    """Share of predictions whose label equals one of the sample's references."""

    name = "accuracy"
    Options = AccuracyOptions
    options: AccuracyOptions

    def extract(self, prediction: str) -> str:
        """The label a prediction states: a choice when ``choices`` are given."""
        choices = self.options.choices
        if not choices:
            return prediction
        text = unicodedata.normalize("NFKC", prediction)
        ordered = sorted(choices, key=len, reverse=True)
        alternatives = "|".join(re.escape(choice.strip()) for choice in ordered)
        label = rf"(?<![A-Za-z0-9])({alternatives})(?![A-Za-z0-9])"
        stated = re.search(rf"(?:answer|答案)\s*(?:is|是|为|:|：)?\s*[(\[（]?{label}", text, re.I)
        found = stated or re.search(label, text)
        return found.group(1) if found else prediction

    def _same(self, prediction: str, reference: str) -> bool:
        if self.options.normalize:
            return normalize_label(prediction) == normalize_label(reference)
        return prediction == reference

    def score_samples(
        self, predictions: Sequence[str], references: References
    ) -> list[dict[str, float]]:
        refs = reference_lists(self.name, predictions, references)
        return [
            {"accuracy": float(any(self._same(self.extract(p), r) for r in candidates))}
            for p, candidates in zip(predictions, refs, strict=True)
        ]

    def __call__(self, predictions: Sequence[str], references: References) -> dict[str, float]:
        return mean_scores(self.score_samples(predictions, references), ["accuracy"])
