"""``judge``: a model grades each completion against a rubric (:mod:`plugtune.inference.judging`).

``rewards: [{name: judge, rubric: "Answers in one short sentence.", model: packaged://…}]``
The completion is graded with the record's prompt as the question and its ``answer`` as
the reference; a judge reply without a grade gives None (the reward does not apply to
that sample) and is logged as ``judge/failures`` (the batch's share).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from plugtune.inference.judging import Judge, JudgeOptions
from plugtune.sdk.reward_text import completion_text, prompt_text


class JudgeReward:
    """A judge model's grade of each completion (0 to 1; None without one)."""

    Options = JudgeOptions

    def __init__(self, **options: Any) -> None:
        self.judge = Judge(JudgeOptions(**options))

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any],
                 **columns: Any) -> list[float | None]:
        references = columns.get("answer") or [None] * len(completions)
        verdicts = self.judge.grade([prompt_text(p) for p in prompts],
                                    [completion_text(c) for c in completions], references)
        if "log_metric" in columns:
            columns["log_metric"]("judge/failures", verdicts.failures / max(len(completions), 1))
        return verdicts.scores
