"""plugtune-example's components with the tiny offline model: ``answer_sft`` trains
with the ``bracket`` template and ``bitfit`` (only biases change, the run ships the
template's Jinja), a LoRA run exports with that Jinja, ``bitfit`` prepares a reward
model, and ``plugtune eval`` scores a ``jsonl_mc`` benchmark folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from plugtune import ConfigError, Session, load_config
from plugtune.core.records import Conversation, Message

ANSWERS = [
    ("What colour is the sky?", "The sky is blue on a clear day."),
    ("What is the capital of France?", "Paris is the capital of France."),
    ("What is two plus two?", "Two plus two makes four."),
    ("Say hello.", "Hello there, nice to meet you."),
    ("Yes or no?", "No."),  # too short for min_answer_chars: 10
    ("Pick a letter.", "B"),  # too short
]


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture
def qa_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "qa.jsonl", [{"q": q, "a": a} for q, a in ANSWERS])


def run_config(tmp_path: Path, data: Path, *overrides: str) -> object:
    return load_config(None, [
        f"data.train=[{{path: {data}, format: qa}}]",
        "trainer={name: answer_sft, min_answer_chars: 10}",
        "template=bracket",
        f"output.dir={tmp_path / 'run'}",
        "output.plot=false",
        "training.max_steps=2",
        "training.per_device_train_batch_size=2",
        "training.learning_rate=0.01",
        "training.logging_steps=1",
        "training.save_strategy=no",
        *overrides,
    ])


def tensors(folder: Path) -> dict:
    from safetensors.torch import load_file

    weights: dict = {}
    for file in sorted(folder.glob("*.safetensors")):
        weights.update(load_file(file))
    assert weights, f"no safetensors weights in {folder}"
    return weights


def test_answer_sft_with_bitfit_trains_only_the_biases(example_session: Session,
                                                       tmp_path: Path, qa_file: Path) -> None:
    from plugtune.models.sources import resolve_model_path
    from plugtune.training import train

    config = run_config(tmp_path, qa_file, "peft.type=bitfit", "callbacks=[loss_printer]")
    metrics = train(config, example_session)
    output = tmp_path / "run"
    results = json.loads((output / "all_results.json").read_text())
    assert results["answer_sft_kept"] == 4 and results["answer_sft_dropped"] == 2
    assert metrics["answer_sft_kept"] == 4
    log = [json.loads(line) for line in (output / "trainer_log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log if "loss" in entry] == [1, 2]

    before = tensors(Path(resolve_model_path("tiny://qwen2")))
    after = tensors(output)
    assert set(after) == set(before)
    changed = {name for name in before if not before[name].equal(after[name])}
    biases = {name for name in before if name.endswith(".bias")}
    assert len(biases) == 12  # q/k/v projections of 4 layers
    assert changed == biases

    template = example_session.build("templates", "bracket")
    assert (output / "chat_template.jinja").read_text(encoding="utf-8") == template.jinja()


def test_answer_sft_refuses_data_with_no_answer_long_enough(example_session: Session,
                                                             tmp_path: Path, qa_file: Path) -> None:
    from plugtune.training import train

    config = run_config(tmp_path, qa_file, "peft.type=bitfit",
                        "trainer={name: answer_sft, min_answer_chars: 500}")
    with pytest.raises(ConfigError, match=r"data\.train: no training records"):
        train(config, example_session)


def test_bitfit_trains_a_reward_models_score_head_too(example_session: Session,
                                                       tmp_path: Path, qa_file: Path) -> None:
    from plugtune.training import trainable_model

    config = run_config(tmp_path, qa_file, "peft.type=bitfit")
    model = trainable_model(example_session.validate(config), example_session, task="reward")
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {name for name, _ in model.named_parameters()
                         if name.endswith(".bias") or name.startswith("score.")}
    assert "score.weight" in trainable
    quantized = run_config(tmp_path, qa_file, "peft.type=bitfit", "quantization={bits: 4}")
    with pytest.raises(ConfigError, match=r"peft\.type 'bitfit' would update quantized weights"):
        trainable_model(example_session.validate(quantized), example_session)


def test_a_lora_run_with_the_bracket_template_exports_its_jinja(
        example_session: Session, tmp_path: Path, qa_file: Path) -> None:
    from transformers import AutoTokenizer, GenerationConfig

    from plugtune.deploy.export import export_model
    from plugtune.training import train

    config = run_config(tmp_path, qa_file, "peft={type: lora, r: 4}")
    train(config, example_session)
    assert (tmp_path / "run" / "adapter_config.json").is_file()
    merged = export_model(config, example_session, to=tmp_path / "merged")

    template = example_session.build("templates", "bracket")
    tokenizer = AutoTokenizer.from_pretrained(merged)
    assert tokenizer.chat_template == template.jinja()
    conversations = [
        Conversation((Message("user", "2+2?"),)),
        Conversation((Message("system", "Be brief."), Message("user", "Hi"),
                      Message("assistant", "Hello!"), Message("user", "How are you?"))),
    ]
    for conversation in conversations:
        for prompt in (False, True):
            rendered = tokenizer.apply_chat_template(
                conversation.to_openai(), tokenize=False, add_generation_prompt=prompt)
            assert rendered == template.render(conversation, add_generation_prompt=prompt)
    record = json.loads((merged / "export.json").read_text())
    assert (record["template"], record["chat_template"]) == ("bracket", "template")
    # Generation stops at the template's end of turn, <|im_end|> (id 2), first.
    assert GenerationConfig.from_pretrained(merged).eos_token_id[0] == 2


def mc_row(question: str, answer: str) -> dict[str, str]:
    return {"question": question, "A": "red", "B": "green", "C": "blue", "D": "black",
            "answer": answer}


def test_plugtune_eval_scores_a_jsonl_mc_folder(example_environment: Path, tmp_path: Path) -> None:
    from plugtune.cli import cli

    bench = tmp_path / "bench"
    subjects = {"colours": ["C", "A", "B"], "nature": ["B", "D"]}
    for split in ("dev", "test"):
        (bench / split).mkdir(parents=True)
        for subject, answers in subjects.items():
            rows = [mc_row(f"{subject} question {i}?", letter) for i, letter in enumerate(answers)]
            write_jsonl(bench / split / f"{subject}.jsonl", rows)
    config = tmp_path / "eval.yaml"
    config.write_text("model: {path: tiny://qwen2}\noutput: {plot: false}\n", encoding="utf-8")
    out = tmp_path / "eval"
    result = CliRunner().invoke(cli, ["eval", str(config), "--benchmark", str(bench),
                                      "--layout", "jsonl_mc", "--shots", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "eval_results.json").read_text())
    assert (summary["layout"], summary["split"], summary["shots"]) == ("jsonl_mc", "test", 1)
    assert summary["questions"] == 5
    assert {name: s["total"] for name, s in summary["subjects"].items()} == {
        "colours": 3, "nature": 2}
    predictions = [json.loads(line) for line in (out / "eval_predictions.jsonl").open()]
    assert [p["answer"] for p in predictions] == ["C", "A", "B", "B", "D"]
    assert all(p["prediction"] in "ABCD" for p in predictions)
    correct = sum(p["correct"] for p in predictions)
    assert summary["micro_average"] == pytest.approx(correct / 5)
