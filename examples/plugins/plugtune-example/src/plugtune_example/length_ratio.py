"""The ``length_ratio`` metric: a corpus metric that also scores each sample.

A metric is a callable ``metric(predictions, references) -> {score: value}`` (the
corpus score ``predict_results.json`` reports). One that *also* has
``score_samples(predictions, references) -> [{score: value}, …]`` is a
:class:`~plugtune.core.interfaces.SampleMetric`: ``predict`` (and ``plugtune eval``'s
generation tasks) then writes each record's scores to ``predict_samples.jsonl``, which
is how you find the answers that drag a corpus score down. plugtune recognises the
capability with ``isinstance(metric, SampleMetric)``; nothing is declared anywhere else.

Without options a metric is used as registered, so this module registers an
*instance* of :class:`LengthRatio`, not the class.
"""

from __future__ import annotations

from collections.abc import Sequence

from plugtune.core.errors import ConfigError
from plugtune.core.records import Reference


class LengthRatio:
    """Mean characters of predictions over mean characters of references."""

    name = "length_ratio"

    def __call__(self, predictions: Sequence[str],
                 references: Sequence[Reference]) -> dict[str, float]:
        """Corpus score: all predicted characters over all reference characters (a
        sample with no reference text counts as one character, so the ratio is finite)."""
        lengths = _lengths(predictions, references)
        reference_chars = sum(reference for _, reference in lengths) or 1
        return {"length_ratio": sum(prediction for prediction, _ in lengths) / reference_chars}

    def score_samples(self, predictions: Sequence[str],
                      references: Sequence[Reference]) -> list[dict[str, float]]:
        """One ``{"length_ratio": …}`` per sample, in order: that prediction's characters
        over its reference's (at least one)."""
        return [{"length_ratio": prediction / max(reference, 1)}
                for prediction, reference in _lengths(predictions, references)]


def _lengths(predictions: Sequence[str],
             references: Sequence[Reference]) -> list[tuple[int, int]]:
    """(prediction characters, reference characters) per sample. A reference may be a
    list of acceptable answers: the one closest in length to the prediction counts."""
    if len(predictions) != len(references):
        raise ConfigError(f"length_ratio: {len(predictions)} predictions but "
                          f"{len(references)} references")
    pairs = []
    for prediction, reference in zip(predictions, references, strict=True):
        candidates = [reference] if isinstance(reference, str) else list(reference)
        if not candidates:
            raise ConfigError("length_ratio: a sample has an empty list of references")
        closest = min(candidates, key=lambda text: abs(len(text) - len(prediction)))
        pairs.append((len(prediction), len(closest)))
    return pairs


#: What is registered: metrics without options are used as they are.
length_ratio = LengthRatio()
