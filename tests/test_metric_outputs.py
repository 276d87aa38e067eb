"""What predict and eval write and print for metrics: per-sample JSONL, results JSON, the
table; evaluation.language reaching the metrics; generation tasks of ``plugtune eval``."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from plugtune import Session
from plugtune.cli import cli
from plugtune.core.config import RunConfig
from plugtune.evaluation.metric_scores import build_metrics, score_metrics
from plugtune.inference import predict
from plugtune.plugins.metrics.rouge import Rouge
from plugtune.plugins.metrics.sacrebleu_metrics import Bleu
from plugtune.sdk.cli import CliState
from tests.conftest import REPO, EchoBackend

ALPACA = REPO / "examples" / "data" / "tiny_alpaca.jsonl"


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_evaluation_language_reaches_metrics_unless_they_set_their_own():
    config = RunConfig.model_validate({"evaluation": {"language": "zh", "metrics": [
        "rouge", {"name": "bleu", "language": "en"}, "exact_match", "chrf"]}})
    built = dict((ref.name, metric) for ref, metric in build_metrics(config, Session()))
    assert built["rouge"].language == "zh" and built["chrf"].language == "zh"
    assert built["bleu"].language == "en"
    prediction, reference = ["我喜欢吃苹果"], ["我爱吃苹果"]
    assert built["rouge"](prediction, reference)["rouge-1"] == pytest.approx(0.75)


def test_score_metrics_keeps_per_sample_scores_by_metric():
    metrics = build_metrics(RunConfig.model_validate(
        {"evaluation": {"metrics": ["bleu", "rouge", "exact_match"]}}), Session())
    predictions = ["the cat sat", "a b c d"]
    references = ["the cat sat on the mat", ["x", "a b c d"]]
    scores = score_metrics(metrics, predictions, references)
    assert scores.corpus["exact_match"] == 0.5
    assert scores.corpus["rouge-1"] == Rouge()(predictions, references)["rouge-1"]
    assert [sample["bleu"] for sample in scores.samples] == Bleu().score_samples(
        predictions, references)
    assert all("exact_match" not in sample for sample in scores.samples)  # corpus only


def test_predict_writes_per_sample_scores_beside_the_results(tmp_path, monkeypatch):
    config = RunConfig.model_validate({
        "data": {"test": [str(ALPACA)]},
        "evaluation": {"metrics": ["bleu", "rouge", "exact_match"]},
    })
    out = tmp_path / "generated_predictions.jsonl"
    predict(config, Session(), backend=EchoBackend(), out=out)
    lines = read_jsonl(out)
    samples = read_jsonl(tmp_path / "predict_samples.jsonl")
    assert [s["origin"] for s in samples] == [line["origin"] for line in lines]
    predictions = [line["predict"] for line in lines]
    references = [line["label"] for line in lines]
    # JSON keeps floats exactly
    assert [s["bleu"] for s in samples] == Bleu().score_samples(predictions, references)
    assert [s["rouge"] for s in samples] == Rouge().score_samples(predictions, references)
    results = json.loads((tmp_path / "predict_results.json").read_text(encoding="utf-8"))
    assert results["metrics"]["bleu-4"] == pytest.approx(Bleu()(predictions, references)["bleu-4"])


def _config_file(tmp_path, **evaluation) -> str:
    config = {
        "data": {"test": [str(ALPACA)]},
        "generation": {"max_new_tokens": 3},
        "evaluation": evaluation,
        "output": {"dir": str(tmp_path / "out")},
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return str(path)


@pytest.mark.slow
def test_eval_without_benchmark_runs_a_generation_task(tmp_path):
    path = _config_file(tmp_path, metrics=["bleu", "rouge"], language="zh")
    result = CliRunner().invoke(
        cli, ["eval", path, "--limit", "3", "--out", str(tmp_path / "eval")], obj=CliState())
    assert result.exit_code == 0, result.output
    assert "bleu-4" in result.output and "rouge-l" in result.output  # the table
    folder = tmp_path / "eval"
    lines = read_jsonl(folder / "generated_predictions.jsonl")
    samples = read_jsonl(folder / "predict_samples.jsonl")
    assert len(lines) == len(samples) == 3
    results = json.loads((folder / "predict_results.json").read_text(encoding="utf-8"))
    predictions = [line["predict"] for line in lines]
    references = [line["label"] for line in lines]
    assert results["metrics"]["rouge-l"] == pytest.approx(
        Rouge(language="zh")(predictions, references)["rouge-l"])
    assert [s["rouge"] for s in samples] == Rouge(language="zh").score_samples(
        predictions, references)
    # run again: afresh, not resumed
    again = CliRunner().invoke(
        cli, ["eval", path, "--limit", "3", "--out", str(folder)], obj=CliState())
    assert again.exit_code == 0 and "resumed" not in again.output


def test_eval_with_nothing_to_evaluate_says_so(tmp_path):
    result = CliRunner().invoke(cli, ["eval", _config_file(tmp_path)], obj=CliState())
    assert result.exit_code != 0
    assert "evaluation.benchmark" in result.output and "evaluation.metrics" in result.output
    path = _config_file(tmp_path, metrics=["bleu"])
    result = CliRunner().invoke(cli, ["eval", path, "--split", "val"], obj=CliState())
    assert result.exit_code != 0 and "generation task" in result.output
