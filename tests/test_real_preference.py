"""The real model learns a preference it lacks: DPO on SmolLM2-135M-Instruct's own
one-sentence answers (chosen) against its own rambling ones (rejected), a cheap version
of ``benchmarks/real_learning.py --families dpo`` (the long run and its numbers are
there). Scored on held-out pairs, never trained on: how often training raised the
chosen answer's log-prob more than the rejected one's (tests/preference_scores.py)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from plugtune.cli import cli
from plugtune.sdk.cli import CliState
from tests.conftest import REAL_MODEL, REPO, needs_real_model, write_jsonl
from tests.preference_scores import answer_logprobs, moved_towards_chosen

DATA = REPO / "examples" / "data" / "real"


def pairs(name: str, count: int) -> list[dict[str, str]]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines()[:count]]


@pytest.mark.slow
@needs_real_model
def test_dpo_teaches_the_real_model_to_prefer_its_concise_answers(tmp_path):
    """8 steps of 4 pairs (DPO with its sft term, as dpo_smollm2.yaml): on held-out
    pairs the adapter gains on the chosen answer against the rejected one nearly
    everywhere (the benchmark's 8 steps of 8 pairs: on all 40 held-out pairs; this test
    took 2.5 min of CPU, 8 min on a busy machine)."""
    data = write_jsonl(tmp_path / "train.jsonl", pairs("concise_train.jsonl", 32))
    held_out = pairs("concise_heldout.jsonl", 10)
    run = tmp_path / "run"
    result = CliRunner().invoke(cli, [
        "train", str(REPO / "examples/configs/dpo_smollm2.yaml"),
        "--set", f"data.train=[{data}]",
        "--set", "training.per_device_train_batch_size=4", "--set", "training.max_steps=8",
        "--set", "training.seed=0", "--set", f"output.dir={run}"], obj=CliState())
    assert result.exit_code == 0, result.output
    gained = moved_towards_chosen(answer_logprobs(REAL_MODEL, held_out, None),
                                  answer_logprobs(REAL_MODEL, held_out, run))
    assert gained >= 0.8, gained
