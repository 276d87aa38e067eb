"""``plugtune eval``: multiple-choice benchmarks in the C-Eval / MMLU / CMMLU layouts,
on the sample sets in examples/benchmarks and the tiny model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from plugtune import Session
from plugtune.core.config import BenchmarkConfig, ModelConfig, load_config
from plugtune.core.errors import ConfigError
from plugtune.evaluation.benchmarks import (
    Benchmark,
    detect_layout,
    run_benchmark,
)
from plugtune.evaluation.choices import (
    ChoiceScorer,
    Question,
    build_prompt,
    choice_token_ids,
)
from plugtune.plugins.loaders.multiple_choice import CevalLoader, CmmluLoader, MmluLoader

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "examples" / "benchmarks"
SPLIT = {"ceval": "val", "mmlu": "test", "cmmlu": "test"}
LAYOUTS = list(SPLIT)
SESSION = Session()


def benchmark(layout: str) -> Benchmark:
    return Benchmark.named(layout, SESSION)
SUBJECTS = {
    "ceval": ["chinese_geography", "elementary_mathematics"],
    "mmlu": ["astronomy", "elementary_mathematics"],
    "cmmlu": ["chinese_geography", "elementary_mathematics"],
}
# Counted by hand in the shipped files: how many answers of each scored split are "A".
A_SHARE = {
    "ceval": {"chinese_geography": 3 / 8, "elementary_mathematics": 3 / 8},
    "mmlu": {"astronomy": 2 / 8, "elementary_mathematics": 3 / 8},
    "cmmlu": {"chinese_geography": 3 / 8, "elementary_mathematics": 3 / 8},
}


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from plugtune.data.tokenizer import load_tokenizer

    return load_tokenizer(ModelConfig(path="tiny://qwen2"))


@pytest.fixture(scope="module")
def tiny_model() -> Any:
    from plugtune.models import load_causal_lm

    return load_causal_lm(ModelConfig(path="tiny://qwen2", dtype="float32")).eval()


def config_for(layout: str, tmp_path: Path, **bench: Any) -> Any:
    config = load_config(None, ["model.path=tiny://qwen2", f"output.dir={tmp_path}"])
    config.evaluation.benchmark = BenchmarkConfig(path=str(BENCHMARKS / layout), **bench)
    return config


# --- layouts ---------------------------------------------------------------------------


def test_layouts_are_plugins() -> None:
    assert SESSION.registry("benchmarks").names() == sorted(LAYOUTS)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layout_discovery_and_detection(layout: str) -> None:
    assert detect_layout(BENCHMARKS / layout, SESSION) == layout
    bench = benchmark(layout)
    files = bench.files(BENCHMARKS / layout, SPLIT[layout])
    assert list(files) == SUBJECTS[layout]
    dev = bench.files(BENCHMARKS / layout, "dev")
    assert list(dev) == SUBJECTS[layout]
    for subject, file in files.items():
        questions = bench.questions(file, subject)
        assert len(questions) == 8
        assert all(q.answer in "ABCD" and set(q.choices) == set("ABCD") for q in questions)
        assert len(bench.questions(dev[subject], subject)) == 5


def test_parsing_header_and_headerless() -> None:
    def read_rows(file: Path, layout: str) -> list[dict[str, str]]:
        return benchmark(layout).layout.rows(file)

    mmlu = read_rows(BENCHMARKS / "mmlu/data/dev/astronomy_dev.csv", "mmlu")
    # No header: the first line is a question, not column names.
    assert mmlu[0] == {"question": "Which planet is closest to the Sun?", "A": "Venus",
                       "B": "Mercury", "C": "Earth", "D": "Mars", "answer": "B"}
    ceval = read_rows(BENCHMARKS / "ceval/dev/chinese_geography_dev.csv", "ceval")
    assert ceval[0]["question"] == "中国的首都是哪座城市？" and ceval[0]["id"] == "0"
    cmmlu = read_rows(BENCHMARKS / "cmmlu/dev/chinese_geography.csv", "cmmlu")
    assert "" not in cmmlu[0] and cmmlu[0]["Question"] == "中国的首都是哪座城市？"
    assert cmmlu[0]["Answer"] == "B"


@pytest.mark.parametrize(
    ("loader", "row"),
    [
        (CevalLoader, {"id": "3", "question": "Q?", "A": "a", "B": "b", "C": "c", "D": "d",
                       "answer": "C", "explanation": "why"}),
        (MmluLoader, {"question": "Q?", "A": "a", "B": "b", "C": "c", "D": "d", "answer": "C"}),
        (CmmluLoader, {"Question": "Q?", "A": "a", "B": "b", "C": "c", "D": "d",
                       "Answer": "C"}),
    ],
)
def test_loader_plugins_give_a_conversation(loader: Any, row: dict[str, str]) -> None:
    record = loader().convert(row, "f.csv:1")
    assert [m.role for m in record.messages] == ["user", "assistant"]
    assert record.messages[0].content == "Q?\nA. a\nB. b\nC. c\nD. d"
    assert record.messages[1].content == "C"
    assert record.meta["choices"] == {"A": "a", "B": "b", "C": "c", "D": "d"}
    assert record.meta["answer"] == "C"


def test_loaders_are_registered_and_reject_bad_answers() -> None:
    from plugtune.core.records import RecordError
    from plugtune.plugins.loaders import LOADERS

    assert {"ceval", "mmlu", "cmmlu"} <= {loader.name for loader in LOADERS}
    row = {"question": "Q?", "A": "a", "B": "b", "C": "c", "D": "d", "answer": "E"}
    with pytest.raises(RecordError, match="answer: must be one of A, B, C, D"):
        MmluLoader().convert(row, "f.csv:1")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_bad_folder_names_path_and_layout(layout: str, tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "notes.txt").write_text("x")
    with pytest.raises(ConfigError) as error:
        benchmark(layout).files(tmp_path, SPLIT[layout])
    message = str(error.value)
    assert str(tmp_path) in message and f"the {layout} layout" in message
    assert benchmark(layout).layout.description in message
    with pytest.raises(ConfigError, match="no layout matches.*Expected one of the layouts"):
        detect_layout(tmp_path, SESSION)


def test_a_headerless_line_with_too_few_cells_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "data" / "dev").mkdir(parents=True)
    bad = tmp_path / "data" / "dev" / "x_dev.csv"
    bad.write_text("Q?,a,b,c,d,A\nQ2?,a,b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"x_dev.csv: line 2 has 3 columns, expected 6"):
        benchmark("mmlu").questions(bad, "x")


# --- prompt and choice tokens ----------------------------------------------------------


def test_one_shot_prompt_exact() -> None:
    shot = Question("What is 2 + 3?", {"A": "4", "B": "5", "C": "6", "D": "7"}, "B")
    question = Question("What is 7 + 6?", {"A": "13", "B": "12", "C": "14", "D": "11"}, "A")
    assert build_prompt(question, [shot], "elementary_mathematics") == (
        "The following are multiple choice questions (with answers) about elementary "
        "mathematics.\n\n"
        "What is 2 + 3?\nA. 4\nB. 5\nC. 6\nD. 7\nAnswer: B\n\n"
        "What is 7 + 6?\nA. 13\nB. 12\nC. 14\nD. 11\nAnswer:"
    )
    assert build_prompt(question, [shot], "数学", "zh") == (
        "以下是中国关于数学考试的单项选择题，请选出其中的正确答案。\n\n"
        "What is 2 + 3?\nA. 4\nB. 5\nC. 6\nD. 7\n答案：B\n\n"
        "What is 7 + 6?\nA. 13\nB. 12\nC. 14\nD. 11\n答案："
    )


def test_choice_token_ids(tokenizer: Any) -> None:
    spaced = choice_token_ids(tokenizer, prefer_space=True)
    bare = choice_token_ids(tokenizer, prefer_space=False)
    for letter in "ABCD":
        assert tokenizer.encode(" " + letter, add_special_tokens=False) == [spaced[letter]]
        assert tokenizer.encode(letter, add_special_tokens=False) == [bare[letter]]
    assert len(set(spaced.values())) == 4 and spaced != bare


def test_choice_tokens_error_when_not_single_tokens() -> None:
    class Splitting:
        def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
            return [1, ord(text[-1])]  # every variant is two tokens

    with pytest.raises(ConfigError, match="one token"):
        choice_token_ids(Splitting())


# --- scoring with a fake model ---------------------------------------------------------


class FakeModel:
    """Logits favour one letter per question: the right one, or always ``fixed``."""

    device = "cpu"

    def __init__(self, tokenizer: Any, answers: dict[str, str], fixed: str | None = None,
                 spaced: bool = True) -> None:
        self.tokenizer, self.answers, self.fixed = tokenizer, answers, fixed
        self.ids = choice_token_ids(tokenizer, prefer_space=spaced)
        self.calls: list[int] = []

    def __call__(self, input_ids: Any, attention_mask: Any, position_ids: Any) -> Any:
        import torch

        self.calls.append(len(input_ids))
        # Left padding: every row's last position is a real token.
        assert bool(attention_mask[:, -1].all())
        assert position_ids[0, -1] == attention_mask[0].sum() - 1
        logits = torch.zeros(len(input_ids), 1, len(self.tokenizer))
        for row, ids in enumerate(input_ids):
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            question = text.rsplit("\n\n", 1)[-1].split("\n", 1)[0]
            letter = self.fixed or self.answers[question]
            logits[row, 0, self.ids[letter]] = 5.0
        return type("Output", (), {"logits": logits})()


def answers_of(layout: str) -> dict[str, str]:
    bench = benchmark(layout)
    files = bench.files(BENCHMARKS / layout, SPLIT[layout])
    return {q.question: str(q.answer) for s, f in files.items() for q in bench.questions(f, s)}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_scorer_with_fake_model(layout: str, tokenizer: Any, tmp_path: Path) -> None:
    spaced = layout == "mmlu"
    right = FakeModel(tokenizer, answers_of(layout), spaced=spaced)
    config = config_for(layout, tmp_path, shots=2, batch_size=3)
    result = run_benchmark(config, SESSION, model=right, tokenizer=tokenizer)
    assert result.macro_accuracy == 1.0 and result.micro_accuracy == 1.0
    assert right.calls == [3, 3, 3, 3, 3, 1]  # 16 questions in batches of 3

    always_a = FakeModel(tokenizer, {}, fixed="A", spaced=spaced)
    result = run_benchmark(config, SESSION, model=always_a, tokenizer=tokenizer)
    expected = A_SHARE[layout]
    assert {s: r.accuracy for s, r in result.subjects.items()} == pytest.approx(expected)
    assert result.macro_accuracy == pytest.approx(sum(expected.values()) / 2)
    assert all(p["prediction"] == "A" for p in result.predictions)


def test_scorer_rejects_wrong_letter_mapping(tokenizer: Any, tmp_path: Path) -> None:
    # The fake model answers with the bare-letter tokens while MMLU reads " A".." D".
    wrong = FakeModel(tokenizer, answers_of("mmlu"), spaced=False)
    result = run_benchmark(config_for("mmlu", tmp_path, shots=0), SESSION, model=wrong,
                           tokenizer=tokenizer)
    assert result.macro_accuracy < 1.0


def test_subjects_limit_and_unknown_subject(tokenizer: Any, tmp_path: Path) -> None:
    model = FakeModel(tokenizer, answers_of("mmlu"))
    config = config_for("mmlu", tmp_path, shots=0, subjects=["astronomy"])
    result = run_benchmark(config, SESSION, model=model, tokenizer=tokenizer, limit=3)
    assert list(result.subjects) == ["astronomy"] and result.subjects["astronomy"].total == 3
    with pytest.raises(ConfigError, match="no physics in"):
        run_benchmark(config_for("mmlu", tmp_path, subjects=["physics"]), SESSION, model=model,
                      tokenizer=tokenizer)


# --- the tiny model end to end ---------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.slow
def test_tiny_model_end_to_end(layout: str, tiny_model: Any, tokenizer: Any,
                               tmp_path: Path) -> None:
    config = config_for(layout, tmp_path, shots=1, chat=layout == "cmmlu")
    result = run_benchmark(config, SESSION, model=tiny_model, tokenizer=tokenizer)
    files = result.write(tmp_path)
    summary = json.loads((tmp_path / "eval_results.json").read_text(encoding="utf-8"))
    assert set(summary["subjects"]) == set(SUBJECTS[layout])
    assert summary["layout"] == layout and summary["split"] == SPLIT[layout]
    assert 0.0 <= summary["average"] <= 1.0 and 0.0 <= summary["micro_average"] <= 1.0
    assert all(s["total"] == 8 for s in summary["subjects"].values())
    lines = (tmp_path / "eval_predictions.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 16
    assert json.loads(lines[0])["prediction"] in "ABCD"
    assert files["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_padding_does_not_change_predictions(tiny_model: Any, tokenizer: Any) -> None:
    """Left padding with position ids: a batch scores as each prompt alone."""
    ids = choice_token_ids(tokenizer)
    prompts = ["Q: 1+1?\nA. 1\nB. 2\nC. 3\nD. 4\nAnswer:",
               "A much longer question about the planets of the Solar System?\nA. x\nB. y\n"
               "C. z\nD. w\nAnswer:"]
    batched = ChoiceScorer(tiny_model, tokenizer, ids, batch_size=2).predict(prompts)
    alone = ChoiceScorer(tiny_model, tokenizer, ids, batch_size=1).predict(prompts)
    for (letter_b, scores_b), (letter_a, scores_a) in zip(batched, alone, strict=True):
        assert letter_b == letter_a
        assert scores_b == pytest.approx(scores_a, abs=1e-3)


def test_cli_eval(tmp_path: Path) -> None:
    from plugtune.cli import cli
    from plugtune.sdk.cli import CliState

    config = tmp_path / "run.yaml"
    config.write_text(
        f"model:\n  path: tiny://qwen2\noutput:\n  dir: {tmp_path / 'out'}\n"
        "evaluation:\n  benchmark:\n    shots: 1\n", encoding="utf-8"
    )
    result = CliRunner().invoke(
        cli, ["eval", str(config), "--benchmark", str(BENCHMARKS / "mmlu"),
              "--subjects", "astronomy", "--limit", "2"], obj=CliState(),
    )
    assert result.exit_code == 0, result.output
    assert "astronomy" in result.output and "average" in result.output
    summary = json.loads((tmp_path / "out" / "eval_results.json").read_text())
    assert summary["layout"] == "mmlu" and summary["shots"] == 1
    assert summary["subjects"]["astronomy"]["total"] == 2
    assert (tmp_path / "out" / "eval_accuracy.png").exists()

    bad = CliRunner().invoke(cli, ["eval", str(config), "--benchmark", str(tmp_path),
                                   "--layout", "ceval"], obj=CliState())
    assert bad.exit_code != 0
    assert str(tmp_path) in bad.output and "ceval layout" in bad.output
