"""The ``judge`` reward and metric: any backend grades answers against a rubric; the
grade is the last 'Score: N' of its reply, and a reply without one is a counted,
logged failure (None), never a zero."""

from __future__ import annotations

import logging
import math

import pytest

from plugtune import Session
from plugtune.inference.judging import read_score

JUDGE_BACKEND = '''
class ScriptedJudge:
    """Gives 10 when the graded answer is the reference, 3 otherwise, and no grade at
    all for an answer of '???'."""

    batch_size = 8
    prompts = []

    def load(self, config, session):
        self.model = config.model.path

    def generate(self, conversations, params=None):
        replies = []
        for conversation in conversations:
            text = conversation.messages[-1].content
            ScriptedJudge.prompts.append(text)
            answer = text.split("Answer to grade: ")[1].split("\\n")[0]
            reference = text.split("Reference answer: ")[1].split("\\n")[0]
            if answer == "???":
                replies.append("Hard to say.")
            else:
                replies.append("Score: 10" if answer == reference else "Reasoning... Score: 3")
        return replies

    def stream(self, conversation, params=None):
        yield from self.generate([conversation], params)

    def use_adapter(self, name):
        pass
'''


@pytest.fixture
def judge_options(tmp_path):
    backend = tmp_path / "judge_backend.py"
    backend.write_text(JUDGE_BACKEND)
    return {"rubric": "The answer is the reference.", "model": "judge-model",
            "backend": {"name": f"{backend}:ScriptedJudge"}}


@pytest.mark.parametrize(("reply", "score"), [
    ("Score: 7", 0.7), ("score = 10", 1.0), ("Score: 4\nScore: 9", 0.9), ("Score: 12", 1.0),
    ("Score: 2.5", 0.25), ("no grade", None), ("", None),
])
def test_the_grade_is_the_last_score_in_the_reply(reply, score):
    assert read_score(reply, 10) == score


def test_the_judge_reward_grades_each_completion(judge_options, caplog):
    reward = Session().build("rewards", {"name": "judge", **judge_options})
    logged = {}
    with caplog.at_level(logging.WARNING, logger="plugtune.inference.judging"):
        scores = reward(prompts=["What is 2 + 2?"] * 3, completions=["4", "5", "???"],
                        answer=["4", "4", "4"], log_metric=logged.__setitem__)
    assert scores == [1.0, 0.3, None]
    assert logged == {"judge/failures": pytest.approx(1 / 3)}
    assert "no 'Score: N' in the judge's reply" in caplog.text and "Hard to say." in caplog.text


def test_the_judge_metric_averages_the_graded(judge_options):
    metric = Session().build("metrics", {"name": "judge", **judge_options})
    scores = metric(["4", "5", "???", "Paris"], ["4", "4", "4", ["Paris", "paris"]])
    assert scores["judge"] == pytest.approx((1.0 + 0.3 + 1.0) / 3)
    assert scores["judge_failures"] == 0.25
    samples = metric.score_samples(["4", "???"], ["4", "4"])
    assert samples[0] == {"judge": 1.0} and math.isnan(samples[1]["judge"])


def test_a_judge_without_a_rubric_is_refused():
    from plugtune import ConfigError

    with pytest.raises(ConfigError, match="rubric"):
        Session().build("rewards", {"name": "judge", "model": "m"})
