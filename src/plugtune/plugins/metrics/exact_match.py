"""Exact match: the share of predictions equal to one of their references."""

from __future__ import annotations

from collections.abc import Sequence


def exact_match(
    predictions: Sequence[str], references: Sequence[str | Sequence[str]]
) -> dict[str, float]:
    """Share of predictions equal (after trimming whitespace) to any of their references.

    >>> exact_match(["Paris ", "Rome"], [["paris", "Paris"], "Milan"])
    {'exact_match': 0.5}
    """
    if len(predictions) != len(references):
        raise ValueError(
            f"exact_match: {len(predictions)} predictions but {len(references)} references"
        )
    if not predictions:
        return {"exact_match": 0.0}
    hits = 0
    for prediction, reference in zip(predictions, references, strict=True):
        candidates = [reference] if isinstance(reference, str) else reference
        hits += any(prediction.strip() == candidate.strip() for candidate in candidates)
    return {"exact_match": hits / len(predictions)}
