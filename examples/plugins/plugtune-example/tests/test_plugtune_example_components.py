"""Each component of plugtune-example, used by name through plugtune, without a model:
the reward, metric, callback, loader, template, backend, benchmark layout, retriever
and config reader, and ``predict`` running the backend, metrics and retriever."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from plugtune import ConfigError, Session
from plugtune.core.config import GenerationConfig, RunConfig
from plugtune.core.interfaces import (
    Backend,
    BenchmarkLayout,
    ChatTemplate,
    ConfigReader,
    Exporter,
    Loader,
    PeftMethod,
    Retriever,
    SampleMetric,
    Trainer,
    WritesJinja,
)
from plugtune.core.records import Conversation, Message, RecordError
from plugtune.sdk.testing import check_chat_template, check_jinja_parity


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def chat(*texts: str) -> Conversation:
    roles = ("user", "assistant")
    return Conversation(tuple(Message(roles[i % 2], text) for i, text in enumerate(texts)))


def test_each_component_has_the_shape_of_its_kind(example_session: Session) -> None:
    build = example_session.build
    assert isinstance(build("loaders", "qa"), Loader)
    assert isinstance(build("templates", "bracket"), ChatTemplate)
    assert isinstance(build("templates", "bracket"), WritesJinja)
    assert isinstance(build("trainers", "answer_sft"), Trainer)
    assert isinstance(build("peft", "bitfit"), PeftMethod)
    assert isinstance(build("backends", "lookup"), Backend)
    assert isinstance(build("metrics", "length_ratio"), SampleMetric)
    assert isinstance(build("benchmarks", "jsonl_mc"), BenchmarkLayout)
    assert isinstance(build("retrievers", {"name": "lines", "path": "notes.txt"}), Retriever)
    assert isinstance(build("config_readers", "example_yaml"), ConfigReader)
    assert isinstance(build("exporters", "adapter_zip"), Exporter)


# reward ------------------------------------------------------------------------------


def test_the_reward_builds_from_config_options(example_session: Session) -> None:
    reward = example_session.build("rewards", {"name": "keyword", "keyword": "Cat"})
    completions = ["a cat sat", [{"role": "assistant", "content": "CAT!"}], "a dog"]
    assert reward(["p"] * 3, completions) == [1.0, 1.0, 0.0]
    strict = example_session.build(
        "rewards", {"name": "keyword", "keyword": "Cat", "case_sensitive": True}
    )
    assert strict([], ["a cat", "a Cat"]) == [0.0, 1.0]
    with pytest.raises(ConfigError, match="keywrd: unknown key \\(did you mean 'keyword'"):
        example_session.build("rewards", {"name": "keyword", "keywrd": "x"})


# metric and callback -------------------------------------------------------------------


def test_the_metric_scores_the_corpus_and_each_sample(example_session: Session) -> None:
    metric = example_session.build("metrics", "length_ratio")
    assert metric(["abcd"], ["ab"]) == {"length_ratio": 2.0}
    predictions, references = ["abcd", "a", "xyz"], ["ab", "abcd", ["x", "xyz", "long one"]]
    assert metric(predictions, references) == {"length_ratio": 8 / 9}
    assert metric.score_samples(predictions, references) == [
        {"length_ratio": 2.0}, {"length_ratio": 0.25}, {"length_ratio": 1.0}]
    assert metric.score_samples(["abc"], [""]) == [{"length_ratio": 3.0}]
    with pytest.raises(ConfigError, match="2 predictions but 1 references"):
        metric.score_samples(["a", "b"], ["a"])


def test_the_callback_builds_by_name(example_session: Session) -> None:
    from transformers import TrainerCallback

    assert isinstance(example_session.build("callbacks", "loss_printer"), TrainerCallback)


# loader --------------------------------------------------------------------------------


def test_the_loader_reads_a_file_through_plugtune_data(example_session: Session,
                                                      tmp_path: Path) -> None:
    from plugtune.data import load_dataset

    rows = [{"q": "What is 2+2?", "a": "4", "level": "easy"}, {"q": "Capital of France?", "a": ""}]
    data = write_jsonl(tmp_path / "qa.jsonl", rows)
    records, report = load_dataset({"path": str(data), "format": "qa"}, example_session)
    assert report.loader == "qa" and report.loaded == 2
    assert records[0] == Conversation(
        (Message("user", "What is 2+2?"), Message("assistant", "4")),
        meta={"level": "easy"}, origin=f"{data}:1")
    assert records[1].messages[1] == Message("assistant", "")


@pytest.mark.parametrize(("row", "field", "problem"), [
    ({"a": "4"}, "q", "missing (the row has: a)"),
    ({"q": "  ", "a": "4"}, "q", "empty question"),
    ({"q": "2+2?", "a": 4}, "a", "must be a string, got int"),
    ({"question": "2+2?", "a": "4"}, "q", "missing (the row has: question, a)"),
])
def test_bad_rows_are_record_errors_with_origin_and_field(
        example_session: Session, tmp_path: Path, row: dict, field: str, problem: str) -> None:
    from plugtune.core.config import DataConfig
    from plugtune.data import load_dataset

    data = write_jsonl(tmp_path / "qa.jsonl", [{"q": "fine?", "a": "yes"}, row])
    with pytest.raises(RecordError) as raised:
        load_dataset({"path": str(data), "format": "qa"}, example_session)
    error = raised.value
    assert (error.origin, error.field, error.problem) == (f"{data}:2", field, problem)
    # on_bad_record: skip keeps the good row and reports the bad one.
    records, report = load_dataset({"path": str(data), "format": "qa"}, example_session,
                                   config=DataConfig(on_bad_record="skip"))
    assert len(records) == 1 and report.skipped == 1
    assert report.reasons == [f"{data}:2: {field}: {problem}"]


# template ------------------------------------------------------------------------------


def test_the_template_passes_the_sdk_checks(example_session: Session) -> None:
    template = example_session.build("templates", "bracket")
    check_chat_template(template)
    assert check_jinja_parity(template, [chat("a", "b", "c")]) > 10


def test_the_template_renders_and_masks_as_declared(example_session: Session) -> None:
    template = example_session.build("templates", "bracket")
    conversation = Conversation((Message("system", "Be brief."), *chat("2+2?", "4.").messages))
    assert template.render(conversation) == (
        "### System:\nBe brief.<|im_end|>\n"
        "### Question:\n2+2?<|im_end|>\n"
        "### Answer:\n4.<|im_end|>\n"
    )
    trained = [s.text for s in template.segments(conversation) if s.trainable]
    assert trained == ["4.<|im_end|>"]
    prompt = template.render(chat("2+2?"), add_generation_prompt=True)
    assert prompt == "### Question:\n2+2?<|im_end|>\n### Answer:\n"
    assert template.stop_strings == ("<|im_end|>",)


def test_the_end_of_turn_is_one_token_of_the_tiny_tokenizer(example_session: Session) -> None:
    from transformers import AutoTokenizer

    from plugtune.models.sources import resolve_model_path

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("tiny://qwen2"))
    stop = example_session.build("templates", "bracket").stop_strings[0]
    assert tokenizer.encode(stop, add_special_tokens=False) == [2]


# peft method ---------------------------------------------------------------------------


def test_bitfit_leaves_only_biases_trainable_and_refuses_a_model_without(
        example_session: Session) -> None:
    import torch

    from plugtune.core.config import QuantizationConfig

    method = example_session.build("peft", "bitfit")
    assert method.adapter is False
    assert method.quantization(None) is None
    configured = QuantizationConfig(bits=8)
    assert method.quantization(configured) is configured
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 2, bias=False))
    assert method.prepare(model, RunConfig(), "causal_lm") is model
    assert [name for name, p in model.named_parameters() if p.requires_grad] == ["0.bias"]
    with pytest.raises(ConfigError, match="tiny://qwen2 has no bias parameters"):
        method.prepare(torch.nn.Linear(2, 2, bias=False), RunConfig(), "causal_lm")


# backend -------------------------------------------------------------------------------


def lookup(session: Session, **options: object) -> Backend:
    backend = session.build("backends", {"name": "lookup", **options})
    backend.load(RunConfig(), session)
    return backend


def test_the_backend_answers_from_its_table(example_session: Session) -> None:
    backend = lookup(example_session, answers={"What is 2+2?": "Four, of course."},
                     default="No idea.", batch_size=3)
    assert backend.batch_size == 3
    asked = [chat("What is 2+2?"), chat("Hello", "Hi!", "  What is 2+2? "), chat("Why?")]
    answers = backend.generate(asked)
    assert answers == ["Four, of course.", "Four, of course.", "No idea."]
    assert [answer.tokens for answer in answers] == [3, 3, 2]
    pieces = list(backend.stream(asked[0]))
    assert pieces == ["Four, ", "of ", "course."]
    for conversation, answer in zip(asked, answers, strict=True):
        assert "".join(backend.stream(conversation)) == answer


def test_the_backend_honours_stop_strings_and_the_token_limit(example_session: Session) -> None:
    backend = lookup(example_session, answers={"q": "Paris.\nUser: and Rome?"})
    params = GenerationConfig(stop=["\nUser:"])
    assert backend.generate([chat("q")], params) == ["Paris."]
    assert "".join(backend.stream(chat("q"), params)) == "Paris."
    short = GenerationConfig(max_new_tokens=2)
    assert backend.generate([chat("q")], short) == ["Paris.\nUser: "]
    assert "".join(backend.stream(chat("q"), short)) == "Paris.\nUser: "
    # without params: the run's generation section
    config = RunConfig.model_validate({"generation": {"stop": [".", "\n"]}})
    backend.load(config, example_session)
    assert backend.generate([chat("q")]) == ["Paris"]


def test_the_backend_switches_adapters(example_session: Session) -> None:
    backend = lookup(example_session, answers={"q": "base"}, adapters={"pirate": {"q": "arr"}})
    backend.use_adapter("pirate")
    assert backend.generate([chat("q")]) == ["arr"]
    backend.use_adapter(None)
    assert backend.generate([chat("q")]) == ["base"]
    with pytest.raises(ConfigError, match="no adapter 'ninja'; known: pirate"):
        backend.use_adapter("ninja")


def test_plugtune_serve_answers_with_the_backend(example_session: Session) -> None:
    """The OpenAI-compatible server over ``lookup``: whole answers, streams, stops."""
    from fastapi.testclient import TestClient

    from plugtune.inference.server import create_app

    backend = lookup(example_session, answers={"Capital of France?": "Paris. Then Lyon."})
    client = TestClient(create_app(backend, "lookup"))
    question = [{"role": "user", "content": "Capital of France?"}]
    body = client.post("/v1/chat/completions",
                       json={"model": "lookup", "messages": question}).json()
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Paris. Then Lyon."}
    stopped = client.post("/v1/chat/completions",
                          json={"messages": question, "stop": [". "]}).json()
    assert stopped["choices"][0]["message"]["content"] == "Paris"
    streamed = client.post("/v1/chat/completions", json={"messages": question, "stream": True})
    events = [json.loads(line.removeprefix("data: ")) for line in streamed.text.split("\n")
              if line.startswith("data: {")]
    pieces = [e["choices"][0]["delta"].get("content", "") for e in events if e["choices"]]
    assert [piece for piece in pieces if piece] == ["Paris. ", "Then ", "Lyon."]
    assert streamed.text.rstrip().endswith("data: [DONE]")


def test_plugtune_chat_streams_and_switches_adapters(example_environment: Path,
                                                     tmp_path: Path) -> None:
    from plugtune.cli import cli

    config = tmp_path / "chat.yaml"
    config.write_text(json.dumps({"backend": {
        "name": "lookup", "answers": {"Hi": "Hello, human."}, "default": "Hmm.",
        "adapters": {"pirate": {"Hi": "Ahoy!"}}}}), encoding="utf-8")
    turns = "Hi\n/adapter pirate\nHi\n/adapter ninja\n/adapter none\nHi\nBye\n"
    result = CliRunner().invoke(cli, ["chat", str(config)], input=turns)
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.output.splitlines() if line.strip()]
    assert lines == ["assistant: Hello, human.", "adapter: pirate", "assistant: Ahoy!",
                     "error: backend lookup: no adapter 'ninja'; known: pirate",
                     "adapter: none (base model)", "assistant: Hello, human.",
                     "assistant: Hmm."]


# benchmark layout ----------------------------------------------------------------------


def mc_row(question: str, answer: str) -> dict[str, str]:
    return {"question": question, "A": "one", "B": "two", "C": "three", "D": "four",
            "answer": answer}


def test_the_benchmark_layout_finds_and_reads_its_files(example_session: Session,
                                                         tmp_path: Path) -> None:
    from plugtune.evaluation.benchmarks import Benchmark, detect_layout

    for split in ("dev", "test"):
        (tmp_path / split).mkdir()
        write_jsonl(tmp_path / split / "numbers.jsonl", [mc_row("1+1?", "B")])
        write_jsonl(tmp_path / split / "colours.jsonl", [mc_row("Sky?", "C"), mc_row("x", "A")])
    assert detect_layout(tmp_path, example_session) == "jsonl_mc"
    benchmark = Benchmark.named("jsonl_mc", example_session)  # with the mmlu loader
    files = benchmark.files(tmp_path, "test")
    assert list(files) == ["colours", "numbers"]
    questions = benchmark.questions(files["colours"], "colours")
    assert [(q.answer, q.subject) for q in questions] == [("C", "colours"), ("A", "colours")]
    with pytest.raises(ConfigError, match="splits dev, test, not 'val'"):
        benchmark.files(tmp_path, "val")


@pytest.mark.parametrize(("line", "problem"), [
    ("{not json", "not JSON"),
    ("[1, 2]", "expected an object, got list"),
    (json.dumps({"question": "q", "A": "1"}), "missing B, C, D, answer"),
])
def test_the_benchmark_layout_names_the_bad_line(example_session: Session, tmp_path: Path,
                                                 line: str, problem: str) -> None:
    layout = example_session.build("benchmarks", "jsonl_mc")
    file = tmp_path / "maths.jsonl"
    file.write_text(json.dumps(mc_row("q", "A")) + "\n\n" + line + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(f"maths.jsonl:3: {problem}")):
        layout.rows(file)


def test_the_benchmark_layout_does_not_claim_csv_folders(example_session: Session,
                                                         tmp_path: Path) -> None:
    layout = example_session.build("benchmarks", "jsonl_mc")
    assert not layout.detect(tmp_path)
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "maths_dev.csv").write_text("q,1,2,3,4,A\n")
    assert not layout.detect(tmp_path)
    assert layout.files(tmp_path, "test") == {}


# retriever -----------------------------------------------------------------------------


NOTES = """\
LoRA trains low-rank adapters next to frozen weights.

BitFit trains only the bias terms of a model.
The capital of France is Paris.
QLoRA is LoRA on a base model quantized to four bits.
"""


def test_the_retriever_ranks_lines_by_shared_words(example_session: Session,
                                                    tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text(NOTES, encoding="utf-8")
    retriever = example_session.build("retrievers", {"name": "lines", "path": str(notes)})
    found = retriever.retrieve("What does LoRA train next to frozen weights?", 2)
    assert [(p.text, p.source) for p in found] == [
        ("LoRA trains low-rank adapters next to frozen weights.", "notes.txt:1"),
        ("QLoRA is LoRA on a base model quantized to four bits.", "notes.txt:5"),
    ]
    assert retriever.retrieve("Which city is the capital of France?", 3)[0].text == (
        "The capital of France is Paris.")
    assert retriever.retrieve("What is the answer to this?", 3) == []  # only stop words


def test_the_retriever_fails_fast_on_a_missing_file(example_session: Session,
                                                     tmp_path: Path) -> None:
    retriever = example_session.build(
        "retrievers", {"name": "lines", "path": str(tmp_path / "missing.txt")})  # reads nothing
    with pytest.raises(ConfigError, match=r"retriever lines: cannot read .*missing\.txt"):
        retriever.open()
    with pytest.raises(ConfigError, match="k: Input should be greater than or equal to 1"):
        example_session.build("retrievers", {"name": "lines", "path": "x", "k": 0})


# predict: backend, metrics and retriever together ---------------------------------------


def test_predict_with_the_lookup_backend_writes_per_sample_scores(example_session: Session,
                                                                  tmp_path: Path) -> None:
    from plugtune.inference.predict import predict

    rows = [{"q": "2+2?", "a": "4"}, {"q": "Capital of France?", "a": "Paris"},
            {"q": "Colour of the sky?", "a": "blue"}]
    data = write_jsonl(tmp_path / "qa.jsonl", rows)
    config = RunConfig.model_validate({
        "data": {"test": [{"path": str(data), "format": "qa"}]},
        "backend": {"name": "lookup", "default": "no idea",
                    "answers": {"2+2?": "4", "Capital of France?": "Paris, France"}},
        "evaluation": {"metrics": ["length_ratio", "exact_match"]},
    })
    out = tmp_path / "predict" / "generated_predictions.jsonl"
    result = predict(example_session.validate(config), example_session, out=out)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["predict"] for line in lines] == ["4", "Paris, France", "no idea"]
    assert [line["label"] for line in lines] == ["4", "Paris", "blue"]
    results = json.loads((out.parent / "predict_results.json").read_text())
    assert results["metrics"] == pytest.approx({"exact_match": 1 / 3,
                                                "length_ratio": (1 + 13 + 7) / (1 + 5 + 4)})
    assert results["metrics"] == pytest.approx(result.metrics)
    samples = [json.loads(line) for line in (out.parent / "predict_samples.jsonl").open()]
    assert [sample["origin"] for sample in samples] == [f"{data}:{i}" for i in (1, 2, 3)]
    assert [sample["length_ratio"] for sample in samples] == [
        {"length_ratio": 1.0}, {"length_ratio": 13 / 5}, {"length_ratio": 7 / 4}]
    assert all("exact_match" not in sample for sample in samples)  # a corpus-only metric


def test_predict_with_the_lines_retriever_saves_the_context(example_session: Session,
                                                            tmp_path: Path) -> None:
    from plugtune.inference.predict import predict

    notes = tmp_path / "notes.txt"
    notes.write_text(NOTES, encoding="utf-8")
    rows = [{"q": "What does BitFit train?", "a": "the biases"},
            {"q": "Hello there", "a": "hi"}]
    data = write_jsonl(tmp_path / "qa.jsonl", rows)
    config = RunConfig.model_validate({
        "data": {"test": [{"path": str(data), "format": "qa"}]},
        "backend": {"name": "lookup", "default": "asked with context",
                    "answers": {"What does BitFit train?": "asked plainly",
                                "Hello there": "asked plainly"}},
        "retriever": {"name": "lines", "path": str(notes), "k": 1},
    })
    out = tmp_path / "generated_predictions.jsonl"
    predict(example_session.validate(config), example_session, out=out)
    first, second = (json.loads(line) for line in out.read_text().splitlines())
    assert first["context"] == [{"text": "BitFit trains only the bias terms of a model.",
                                 "source": "notes.txt:3", "distance": None}]
    # The backend saw the question rewritten with the passage; the file keeps the record's
    # own prompt. A question no line shares a word with is asked as it is.
    assert first["predict"] == "asked with context"
    assert first["prompt"] == [{"role": "user", "content": "What does BitFit train?"}]
    assert second["context"] == [] and second["predict"] == "asked plainly"


def test_predict_fails_before_answering_when_the_notes_are_missing(example_session: Session,
                                                                   tmp_path: Path) -> None:
    from plugtune.inference.predict import predict

    data = write_jsonl(tmp_path / "qa.jsonl", [{"q": "q", "a": "a"}])
    config = RunConfig.model_validate({
        "data": {"test": [{"path": str(data), "format": "qa"}]},
        "backend": "lookup",
        "retriever": {"name": "lines", "path": str(tmp_path / "missing.txt")},
    })
    out = tmp_path / "generated_predictions.jsonl"
    with pytest.raises(ConfigError, match="cannot read"):
        predict(example_session.validate(config), example_session, out=out)
    assert out.read_text() == ""


# config reader -------------------------------------------------------------------------


EXAMPLE_RUN = """\
example_run:
  model: tiny://qwen2
  data: qa.jsonl
  steps: 3
  lr: 0.002
output:
  dir: runs/example
template: bracket
"""


def test_load_config_reads_an_example_run_file(example_session: Session, tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    from plugtune import load_config

    path = tmp_path / "run.yaml"
    path.write_text(EXAMPLE_RUN, encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        config = load_config(path, ["training.seed=7"],
                             readers=example_session.registry("config_readers"))
    assert config.model.path == "tiny://qwen2"
    assert [(spec.path, spec.format.name) for spec in config.data.train] == [("qa.jsonl", "qa")]
    assert (config.training.max_steps, config.training.learning_rate) == (3, 0.002)
    assert config.training.seed == 7  # overrides use plugtune's keys
    assert config.output.dir == "runs/example" and config.template.name == "bracket"
    assert "example_run.steps is training.max_steps" in caplog.text
    example_session.validate(config)  # every component it names exists (qa, bracket)


def test_load_config_finds_the_reader_of_the_installed_plugin(example_environment: Path,
                                                               tmp_path: Path) -> None:
    from plugtune import load_config

    path = tmp_path / "run.yaml"
    path.write_text(EXAMPLE_RUN, encoding="utf-8")
    assert load_config(path).training.max_steps == 3


def test_the_reader_claims_only_its_format_and_names_bad_keys(example_session: Session,
                                                               tmp_path: Path) -> None:
    from plugtune import load_config

    reader = example_session.build("config_readers", "example_yaml")
    assert reader.claims({"example_run": {"model": "m"}})
    assert not reader.claims({"example_run": "m"})
    assert not reader.claims({"model": {"path": "m"}})
    read = reader.read({"example_run": {"model": "m", "data": "d.jsonl"}}, "f.yaml")
    assert read.config == {"model": {"path": "m"},
                           "data": {"train": [{"path": "d.jsonl", "format": "qa"}]}}
    path = tmp_path / "bad.yaml"
    path.write_text("example_run: {model: m, data: d.jsonl, stepz: 3}\n", encoding="utf-8")
    readers = example_session.registry("config_readers")
    with pytest.raises(ConfigError, match=r"bad\.yaml: example_run: invalid configuration\n"
                                          r"  stepz: unknown key \(did you mean 'steps'\?\)"):
        load_config(path, readers=readers)
    path.write_text("example_run: {model: m, data: d.jsonl, steps: 3}\ntraining: 3\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.yaml: training: expected a mapping next to "
                                          r"example_run, got int"):
        load_config(path, readers=readers)


def test_config_convert_prints_the_plugtune_config(example_environment: Path,
                                                   tmp_path: Path) -> None:
    from plugtune.cli import cli

    path = tmp_path / "run.yaml"
    path.write_text(EXAMPLE_RUN, encoding="utf-8")
    result = CliRunner().invoke(cli, ["config", "convert", str(path)])
    assert result.exit_code == 0, result.output
    assert "example_run.steps is training.max_steps" in result.output
    assert "max_steps: 3" in result.output and "format: qa" in result.output


# exporter ----------------------------------------------------------------------------


def test_plugtune_export_writes_the_adapter_archive(example_environment: Path,
                                                    tmp_path: Path) -> None:
    import zipfile

    from plugtune.cli import cli
    from plugtune.sdk.cli import CliState

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "adapter_config.json").write_text("{}", encoding="utf-8")
    (run_dir / "adapter_model.safetensors").write_bytes(b"weights")
    config = tmp_path / "run.yaml"
    config.write_text(f"model: {{path: tiny://qwen2}}\ntemplate: qwen2\n"
                      f"output: {{dir: {run_dir}}}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["export", str(config), "--format", "adapter_zip",
                                      "--option", "compression=stored"], obj=CliState())
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(run_dir / "adapter-zip" / "adapter.zip") as archive:
        assert sorted(archive.namelist()) == ["MODEL_CARD.md", "adapter_config.json",
                                              "adapter_model.safetensors"]
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_STORED}
        card = archive.read("MODEL_CARD.md").decode()
    assert "Base model: tiny://qwen2" in card and "Chat template: qwen2" in card
    refused = CliRunner().invoke(cli, ["export", str(config), "--format", "adapter_zip",
                                       "--option", "compression=bzip9"], obj=CliState())
    assert refused.exit_code == 1 and "compression" in refused.output
