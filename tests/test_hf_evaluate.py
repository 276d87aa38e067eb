"""Hugging Face evaluate interop: plugtune metrics as local modules, modules as metrics."""

from __future__ import annotations

import os
import tempfile

# evaluate reads HF_HOME when imported and writes modules below it.
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="plugtune-hf-home-")

import evaluate
import pytest

from plugtune import Session
from plugtune.core.errors import ConfigError
from plugtune.evaluation.hf_evaluate import main, write_module
from plugtune.plugins.metrics.rouge import Rouge
from plugtune.plugins.metrics.sacrebleu_metrics import Bleu

PREDICTIONS = ["the cat sat on a mat", "我喜欢吃苹果", "hello there"]
REFERENCES = [["the cat sat on the mat", "a cat on a mat"], ["我爱吃苹果"], ["hello here"]]

EXACT_MATCH_MODULE = '''
import datasets
import evaluate


class ShoutedMatch(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="exact match after upper-casing", citation="", inputs_description="",
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}))

    def _compute(self, predictions, references, strip=False):
        same = [(p.strip() if strip else p).upper() == r.upper()
                for p, r in zip(predictions, references)]
        return {"shouted": sum(same) / len(same), "hits": [int(s) for s in same], "note": "x"}
'''


@pytest.mark.slow
def test_exported_module_loads_offline_and_matches_the_plugin(tmp_path):
    script = write_module("bleu", tmp_path / "plugtune_bleu")
    assert script == tmp_path / "plugtune_bleu" / "plugtune_bleu.py"
    module = evaluate.load(str(tmp_path / "plugtune_bleu"))
    theirs = module.compute(predictions=PREDICTIONS, references=REFERENCES)
    assert theirs == Bleu()(PREDICTIONS, REFERENCES)
    # options written into the module, and compute() kwargs on top
    assert main(["rouge", str(tmp_path / "zh_rouge"), "language=zh"]) == 0
    rouge = evaluate.load(str(tmp_path / "zh_rouge"))
    flat = [refs[0] for refs in REFERENCES]
    assert rouge.compute(predictions=PREDICTIONS, references=flat) == (
        Rouge(language="zh")(PREDICTIONS, flat))
    assert rouge.compute(predictions=PREDICTIONS, references=flat, use_stemmer=True) == (
        Rouge(language="zh", use_stemmer=True)(PREDICTIONS, flat))


def test_export_refuses_what_an_evaluate_module_cannot_score(tmp_path):
    with pytest.raises(ConfigError, match="with the model"):
        write_module("perplexity", tmp_path / "ppl")
    with pytest.raises(ConfigError, match="max_order"):
        write_module("bleu", tmp_path / "bad", max_order=0)


@pytest.fixture
def shouted_module(tmp_path):
    folder = tmp_path / "shouted_match"
    folder.mkdir()
    (folder / "shouted_match.py").write_text(EXACT_MATCH_MODULE, encoding="utf-8")
    return folder


def test_evaluate_metric_wraps_a_local_module(shouted_module):
    metric = Session().build("metrics", {"name": "evaluate", "path": str(shouted_module)})
    scores = metric(["a", "B ", "c"], ["A", "b", "d"])
    assert scores == {"shouted": pytest.approx(1 / 3), "hits-1": 1.0, "hits-2": 0.0,
                      "hits-3": 0.0}
    stripped = Session().build("metrics", {"name": "evaluate", "path": str(shouted_module),
                                           "kwargs": {"strip": True}})
    assert stripped(["a", "B ", "c"], ["A", "b", "d"])["shouted"] == pytest.approx(2 / 3)


def test_evaluate_metric_wraps_a_metric_class(shouted_module):
    ref = f"{shouted_module / 'shouted_match.py'}:ShoutedMatch"
    metric = Session().build("metrics", {"name": "evaluate", "path": ref})
    assert metric(["x", "y"], ["X", "z"])["shouted"] == 0.5
    not_a_metric = Session().build("metrics", {"name": "evaluate", "path": "json:dumps"})
    with pytest.raises(ConfigError, match="not an evaluate.Metric subclass"):
        not_a_metric(["x"], ["x"])


def test_evaluate_metric_round_trips_a_plugtune_export(tmp_path):
    write_module("rouge", tmp_path / "rouge_module")
    folder = str(tmp_path / "rouge_module")
    wrapped = Session().build("metrics", {"name": "evaluate", "path": folder})
    assert wrapped(PREDICTIONS, REFERENCES) == Rouge()(PREDICTIONS, REFERENCES)


def test_evaluate_metric_with_a_missing_path_explains_hub_names(tmp_path):
    metric = Session().build("metrics", {"name": "evaluate", "path": "bleu"})
    with pytest.raises(ConfigError, match="bleu does not exist.*need network"):
        metric(["a"], ["a"])
    missing = Session().build("metrics", {"name": "evaluate", "path": str(tmp_path / "nope")})
    with pytest.raises(ConfigError, match="nope does not exist"):
        missing(["a"], ["a"])
