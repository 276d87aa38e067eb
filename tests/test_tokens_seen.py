"""``num_input_tokens_seen`` counts each real (non-pad) token of the training batches once,
whether or not the config also asks transformers to count (LLaMA-Factory's
``include_num_input_tokens_seen: non_padding`` used to double the total)."""

from __future__ import annotations

import json

import pytest
import yaml

from plugtune import Session, load_config
from plugtune.data.prepare import prepare
from plugtune.training import train
from tests.conftest import write_jsonl

ANSWERS = [
    ("name a color", "blue"),
    ("capital of france", "paris is the capital of france"),
    ("two plus two", "four"),
    ("say hi", "hello there, how are you today?"),
]
EPOCHS = 2


@pytest.fixture(scope="module")
def session() -> Session:
    return Session()


@pytest.fixture
def answers(tmp_path):
    return write_jsonl(tmp_path / "answers.jsonl",
                       [{"instruction": q, "output": a} for q, a in ANSWERS])


def real_tokens(config, session) -> int:
    """The non-pad tokens of one epoch: every encoded example's length."""
    examples = prepare(config, session).splits["train"].examples
    assert len({len(example.input_ids) for example in examples}) > 1  # batches are padded
    return sum(len(example.input_ids) for example in examples)


@pytest.mark.parametrize("packing", [False, True])
@pytest.mark.parametrize("counting", [None, "non_padding", "all"])
@pytest.mark.slow
def test_tokens_seen_are_the_real_tokens_of_the_batches(tmp_path, session, answers, counting,
                                                        packing):
    overrides = [f"data.train=[{answers}]", f"output.dir={tmp_path / 'run'}",
                 "training.per_device_train_batch_size=2", f"training.num_train_epochs={EPOCHS}",
                 "training.save_strategy=no", f"data.packing={packing}"]
    if counting is not None:
        overrides.append(f"training.include_num_input_tokens_seen={counting}")
    config = load_config(None, overrides)
    metrics = train(config, session)
    assert metrics["num_input_tokens_seen"] == EPOCHS * real_tokens(config, session)


@pytest.mark.slow
def test_a_llamafactory_config_counts_each_token_once(tmp_path, session, answers, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dataset_info.json").write_text(json.dumps(
        {"answers": {"file_name": str(answers)}}))
    lf = tmp_path / "lf.yaml"
    lf.write_text(yaml.safe_dump({
        "model_name_or_path": "tiny://qwen2", "stage": "sft", "do_train": True,
        "dataset": "answers", "template": "qwen", "output_dir": "saves/run",
        "overwrite_output_dir": True, "per_device_train_batch_size": 2,
        "num_train_epochs": float(EPOCHS), "save_strategy": "no",
        "include_num_input_tokens_seen": "non_padding", "report_to": "none",
    }))
    monkeypatch.chdir(tmp_path)
    config = load_config(lf)
    metrics = train(config, session)
    assert metrics["num_input_tokens_seen"] == EPOCHS * real_tokens(config, session)
    results = json.loads((tmp_path / "saves/run/all_results.json").read_text())
    assert results["num_input_tokens_seen"] == metrics["num_input_tokens_seen"]
