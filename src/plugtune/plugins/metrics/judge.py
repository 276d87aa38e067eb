"""``judge``: a model grades each prediction against its reference and a rubric, in
``plugtune predict`` / ``eval`` (:mod:`plugtune.inference.judging`). Corpus scores: the
mean grade over the graded predictions and the share the judge gave no grade
(``judge_failures``); per sample, each grade (NaN where none)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from plugtune.inference.judging import Judge, JudgeOptions


class JudgeMetric:
    """A judge model's grade of each prediction (0 to 1)."""

    name = "judge"
    Options = JudgeOptions

    def __init__(self, **options: Any) -> None:
        self.judge = Judge(JudgeOptions(**options))

    def __call__(self, predictions: Sequence[str],
                 references: Sequence[Any]) -> Mapping[str, float]:
        samples = self.score_samples(predictions, references)
        graded = [s["judge"] for s in samples if not math.isnan(s["judge"])]
        return {"judge": sum(graded) / len(graded) if graded else math.nan,
                "judge_failures": (len(samples) - len(graded)) / max(len(samples), 1)}

    def score_samples(self, predictions: Sequence[str],
                      references: Sequence[Any]) -> list[dict[str, float]]:
        firsts = [r[0] if isinstance(r, list) and r else r for r in references]
        verdicts = self.judge.grade([""] * len(predictions), predictions, firsts)
        return [{"judge": math.nan if s is None else s} for s in verdicts.scores]
