"""Contains: the share of answers that mention their reference, for questions with a
short right answer in a free-form reply ("What is the capital of France?" -> "Paris").

A chat model answers "The capital of France is Paris." where exact match wants "Paris";
this checks the fact, not the phrasing. ``a|b`` in a reference accepts either spelling
("seven|7").
"""

from __future__ import annotations

import re
from collections.abc import Sequence


def contains(
    predictions: Sequence[str], references: Sequence[str | Sequence[str]]
) -> dict[str, float]:
    """Share of predictions that contain one of their references as whole words,
    ignoring case.

    >>> contains(["The capital is Paris.", "It has 8 legs", "Rome"], ["paris", "eight|8", "Milan"])
    {'contains': 0.6666666666666666}
    """
    if len(predictions) != len(references):
        raise ValueError(f"contains: {len(predictions)} predictions but "
                         f"{len(references)} references")
    if not predictions:
        return {"contains": 0.0}
    hits = 0
    for prediction, reference in zip(predictions, references, strict=True):
        candidates = [reference] if isinstance(reference, str) else list(reference)
        words = [word for candidate in candidates for word in candidate.split("|") if word.strip()]
        hits += any(_mentions(prediction, word.strip()) for word in words)
    return {"contains": hits / len(predictions)}


def _mentions(text: str, word: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.IGNORECASE) is not None
