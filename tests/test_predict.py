"""``predict`` and ``plugtune predict``: prompts and references, files, metrics."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from plugtune import Session
from plugtune.cli import cli
from plugtune.core.config import RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.hookspecs import hookimpl
from plugtune.core.records import (
    Conversation,
    LabeledCompletion,
    Message,
    Preference,
    RecordError,
    Text,
    prompt_and_reference,
)
from plugtune.inference import PredictionResult, predict
from plugtune.sdk.cli import CliState
from tests.conftest import REPO, EchoBackend, write_jsonl

ALPACA = REPO / "examples" / "data" / "tiny_alpaca.jsonl"
ALPACA_ROWS = [json.loads(line) for line in ALPACA.read_text(encoding="utf-8").splitlines()]


def run_config(tmp_path, **sections) -> RunConfig:
    data = {
        "data": {"test": [str(ALPACA)]},
        "generation": {"max_new_tokens": 4},
        "evaluation": {"metrics": ["exact_match"]},
        "output": {"dir": str(tmp_path / "out")},
        **sections,
    }
    return RunConfig.model_validate(data)


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def one_batch_per_call(monkeypatch):
    """Hand the backend one batch per generate call (by default it gets several, to sort
    by length), so that progress and resuming are seen batch by batch."""
    import sys

    monkeypatch.setattr(sys.modules["plugtune.inference.predict"], "CHUNK_BATCHES", 1)


def test_predict_answers_every_record_and_writes_the_files(tmp_path, one_batch_per_call):
    config = run_config(tmp_path, backend={"name": "transformers", "batch_size": 5})
    seen = []
    result = predict(config, Session(), progress=lambda done, total: seen.append((done, total)))
    assert isinstance(result, PredictionResult)
    assert seen == [(5, 12), (10, 12), (12, 12)]
    results_file = result.write(tmp_path / "out" / "generated_predictions.jsonl")

    lines = read_jsonl(tmp_path / "out" / "generated_predictions.jsonl")
    assert len(lines) == len(ALPACA_ROWS) == 12
    assert set(lines[0]) == {"origin", "prompt", "label", "predict"}
    assert [line["label"] for line in lines] == [row["output"] for row in ALPACA_ROWS]
    assert lines[0]["origin"].endswith("tiny_alpaca.jsonl:1")
    assert lines[0]["prompt"] == [{"role": "user", "content": "What is LoRA?"}]
    assert lines[2]["prompt"][-1]["content"].startswith("Translate to Chinese.")
    assert all(isinstance(line["predict"], str) for line in lines)

    summary = json.loads(results_file.read_text(encoding="utf-8"))
    assert results_file.name == "predict_results.json"
    assert summary["split"] == "test" and summary["samples"] == 12
    assert set(summary["metrics"]) == {"exact_match"}
    hits = sum(line["predict"].strip() == line["label"].strip() for line in lines)
    assert summary["metrics"]["exact_match"] == hits / 12


class PromptOnlyLoader:
    def convert(self, row, origin):
        return Conversation((Message("user", row["q"]),), origin=origin)


class PredictPlugin:
    @hookimpl
    def register_backends(self, register):
        register("echo", EchoBackend)

    @hookimpl
    def register_loaders(self, register):
        register("prompt_only", PromptOnlyLoader)


def test_metrics_score_the_predictions_against_the_references(tmp_path):
    rows = [{"prompt": "4", "answer": "4"}, {"prompt": "yes", "answer": ["no", "yes"]},
            {"prompt": "2+2", "answer": 4}, {"prompt": "x", "answer": "y"}]
    path = write_jsonl(tmp_path / "qa.jsonl", rows)
    config = run_config(tmp_path, backend="echo", data={"test": [str(path)]})
    result = predict(config, Session(plugins=[PredictPlugin()]))
    assert [p.reference for p in result.predictions] == ["4", ["no", "yes"], "4", "y"]
    assert result.metrics == {"exact_match": 0.5}


def test_metrics_need_a_reference_for_every_record(tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", [{"q": "a"}, {"q": "b"}])
    spec = {"path": str(path), "format": "prompt_only"}
    session = Session(plugins=[PredictPlugin()])
    config = run_config(tmp_path, backend="echo", data={"test": [spec]})
    with pytest.raises(ConfigError, match=r"q.jsonl:1 \(and 1 more\): no reference answer.*"
                                          r"evaluation.metrics \(exact_match\)"):
        predict(config, session)
    config.evaluation.metrics = []
    result = predict(config, session)
    assert [p.prediction for p in result.predictions] == ["a", "b"]
    assert result.metrics == {}


def test_an_empty_split_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="the eval split has no records"):
        predict(run_config(tmp_path), Session(), split="eval")


def test_prompt_and_reference_of_each_record_kind():
    user, answer = Message("user", "q"), Message("assistant", "a")
    conversation = Conversation((user, answer), meta={"gold_answers": ["a", "A"]})
    prompt, reference = prompt_and_reference(conversation)
    assert prompt.messages == (user,) and reference == ["a", "A"]
    assert prompt_and_reference(Conversation((user, answer)))[1] == "a"
    prompt = Conversation((user,))
    assert prompt_and_reference(Preference(prompt, answer, Message("assistant", "b"))) == (
        prompt, "a"
    )
    assert prompt_and_reference(LabeledCompletion(Conversation((user, answer)), False)) == (
        prompt, None
    )
    with pytest.raises(RecordError, match="t.txt:3: raw text has no prompt"):
        prompt_and_reference(Text("plain", origin="t.txt:3"))


def test_the_cli_writes_predictions_and_prints_the_metrics(tmp_path):
    config_file = tmp_path / "run.yaml"
    config_file.write_text(
        f"data: {{test: [{ALPACA}]}}\nevaluation: {{metrics: [exact_match]}}\n"
        f"output: {{dir: {tmp_path / 'out'}}}\n",
        encoding="utf-8",
    )
    out = tmp_path / "elsewhere" / "answers.jsonl"
    arguments = ["predict", str(config_file), "--set", "generation.max_new_tokens=3",
                 "--limit", "3", "--out", str(out)]
    result = CliRunner().invoke(cli, arguments, obj=CliState())
    assert result.exit_code == 0, result.output
    assert "exact_match" in result.output
    assert len(read_jsonl(out)) == 3
    summary = json.loads((out.parent / "predict_results.json").read_text(encoding="utf-8"))
    assert summary["samples"] == 3 and "exact_match" in summary["metrics"]
    assert not (tmp_path / "out").exists()


class FlakyEcho(EchoBackend):
    """EchoBackend that counts the prompts it answers and fails on chosen calls."""

    def __init__(self, fail_on=()):
        self.calls, self.answered, self.fail_on, self.sizes = 0, [], set(fail_on), []

    def generate(self, conversations, params=None):
        self.calls += 1
        self.sizes.append(len(conversations))
        if self.calls in self.fail_on:
            raise KeyboardInterrupt
        self.answered += [c.messages[-1].content for c in conversations]
        return super().generate(conversations, params)


QA_ROWS = [{"prompt": str(i), "answer": str(i) if i % 2 else "x"} for i in range(5)]


def test_an_interrupted_predict_resumes_where_it_stopped(tmp_path, one_batch_per_call):
    path = write_jsonl(tmp_path / "qa.jsonl", QA_ROWS)
    config = run_config(tmp_path, backend="echo", data={"test": [str(path)]})
    session = Session(plugins=[PredictPlugin()])
    out = tmp_path / "out" / "generated_predictions.jsonl"

    first = FlakyEcho(fail_on={2})  # batch_size 2: dies on the second batch
    with pytest.raises(KeyboardInterrupt):
        predict(config, session, backend=first, out=out)
    assert [line["predict"] for line in read_jsonl(out)] == ["0", "1"]  # flushed at once
    assert not (out.parent / "predict_results.json").exists()
    with out.open("a", encoding="utf-8") as handle:  # a line cut short by the kill
        handle.write('{"origin": "qa.jso')

    second = FlakyEcho()
    seen = []
    result = predict(config, session, backend=second, out=out,
                     progress=lambda done, total: seen.append((done, total)))
    assert second.answered == ["2", "3", "4"] and second.calls == 2  # not 0 and 1 again
    assert seen == [(2, 5), (4, 5), (5, 5)]
    lines = read_jsonl(out)
    assert [line["predict"] for line in lines] == ["0", "1", "2", "3", "4"]
    assert [line["origin"].rsplit(":", 1)[1] for line in lines] == ["1", "2", "3", "4", "5"]
    assert result.resumed == 2 and len(result.predictions) == 5
    summary = json.loads((out.parent / "predict_results.json").read_text(encoding="utf-8"))
    assert summary["samples"] == 5 and summary["resumed"] == 2
    assert summary["metrics"] == {"exact_match": 0.4}  # over all lines: 1 and 3 match

    third = FlakyEcho()  # complete: nothing left to generate
    assert predict(config, session, backend=third, out=out).metrics == {"exact_match": 0.4}
    assert third.calls == 0


def test_the_backend_gets_several_batches_per_call_to_sort_by_length(tmp_path):
    rows = [{"prompt": str(i), "answer": str(i)} for i in range(19)]
    path = write_jsonl(tmp_path / "qa.jsonl", rows)
    config = run_config(tmp_path, backend="echo", data={"test": [str(path)]})
    backend, seen = FlakyEcho(), []
    predict(config, Session(plugins=[PredictPlugin()]), backend=backend,
            out=tmp_path / "p.jsonl", progress=lambda done, total: seen.append(done))
    assert backend.sizes == [8, 8, 3]  # CHUNK_BATCHES (4) x batch_size (2), then the rest
    assert seen == [8, 16, 19]


def test_a_predictions_file_from_other_records_needs_overwrite(tmp_path):
    path = write_jsonl(tmp_path / "qa.jsonl", QA_ROWS)
    other = write_jsonl(tmp_path / "other.jsonl", QA_ROWS)
    session, out = Session(plugins=[PredictPlugin()]), tmp_path / "p.jsonl"
    config = run_config(tmp_path, backend="echo", data={"test": [str(path)]})
    predict(config, session, backend=FlakyEcho(), out=out, limit=3)
    config = run_config(tmp_path, backend="echo", data={"test": [str(other)]})
    with pytest.raises(ConfigError, match=r"p.jsonl:1: written for .*qa.jsonl:1.*--overwrite"):
        predict(config, session, backend=FlakyEcho(), out=out)
    backend = FlakyEcho()
    result = predict(config, session, backend=backend, out=out, overwrite=True)
    assert backend.answered == ["0", "1", "2", "3", "4"] and result.resumed == 0
    assert all(line["origin"].startswith(str(other)) for line in read_jsonl(out))


def test_the_cli_resumes_and_overwrites(tmp_path):
    config_file = tmp_path / "run.yaml"
    out = tmp_path / "out"
    config_file.write_text(f"data: {{test: [{ALPACA}]}}\noutput: {{dir: {out}}}\n"
                           "generation: {max_new_tokens: 2}\n", encoding="utf-8")
    base = ["predict", str(config_file), "--limit", "2"]
    assert CliRunner().invoke(cli, base, obj=CliState()).exit_code == 0
    predictions = out / "generated_predictions.jsonl"
    assert len(read_jsonl(predictions)) == 2
    result = CliRunner().invoke(cli, [*base[:-1], "3"], obj=CliState())
    assert result.exit_code == 0, result.output
    assert "resumed: 2 answers" in result.output and len(read_jsonl(predictions)) == 3
    result = CliRunner().invoke(cli, [*base[:2], "--limit", "1"], obj=CliState())
    assert result.exit_code == 1 and "--overwrite" in result.output
    assert "3 predictions, but the split has only 1 records" in result.output
    result = CliRunner().invoke(cli, [*base[:2], "--limit", "1", "--overwrite"], obj=CliState())
    assert result.exit_code == 0, result.output
    assert len(read_jsonl(predictions)) == 1


def test_the_cli_reports_a_bad_split_in_one_line(tmp_path):
    config_file = tmp_path / "run.yaml"
    config_file.write_text(f"data: {{test: [{ALPACA}]}}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["predict", str(config_file), "--split", "eval"],
                                obj=CliState())
    assert result.exit_code == 1
    assert "Error: data: the eval split has no records" in result.output
    assert "Traceback" not in result.output
