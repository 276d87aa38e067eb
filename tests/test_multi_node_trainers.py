"""dpo, grpo (with tool episodes too) and ppo on two simulated machines (two torchrun
agents with ``--nnodes 2``, a c10d rendezvous on 127.0.0.1, one process each, gloo) train
to the weights of one machine with two processes, global rank 0 alone writing; and an sft
run stopped at a checkpoint resumes on two machines to the weights of the run that did not
stop."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest
import torch

from tests.conftest import write_jsonl
from tests.helpers import free_port
from tests.launching import (
    BIN,
    adapter_weights,
    launch,
    launch_env,
    node_commands,
    write_config,
)
from tests.tiny_data import PAIRS, PROMPTS, SHARE_OF_E

STEPS = 2


def trainer_config(folder: Path, trainer: str) -> Path:
    """A two-step run of ``trainer`` on its kind of data, written in ``folder``."""
    if trainer == "dpo":
        data = write_jsonl(folder / "pairs.jsonl", [
            {"prompt": p, "chosen": c, "rejected": r} for p, c, r in PAIRS])
        extra = "trainer: dpo"
    else:
        data = write_jsonl(folder / "prompts.jsonl", PROMPTS)
        (folder / "count_e.py").write_text(SHARE_OF_E)
        options = ("{name: grpo, max_completion_length: 8, num_generations: 2}"
                   if trainer in ("grpo", "agentic") else
                   "{name: ppo, max_new_tokens: 8, mini_batch_size: 2, num_ppo_epochs: 1}")
        extra = f"trainer: {options}\nrewards: [{folder / 'count_e.py'}:share_of_e]"
        if trainer == "agentic":  # episodes with a tool, on a template that renders it
            extra += ("\nagent: {environment: calculator, max_tool_calls: 1}"
                      "\nmodel: {path: tiny://qwen2}\ntemplate: qwen2")
    path = folder / "run.yaml"
    path.write_text(textwrap.dedent(f"""
        data: {{train: [{data}]}}
        training: {{max_steps: {STEPS}, logging_steps: 1, per_device_train_batch_size: 2,
                    save_strategy: "no", learning_rate: 0.001}}
        output: {{dir: {folder / "out"}}}
    """) + extra + "\n")
    return path


def on_two_nodes(config: Path, folder: Path, *flags: str) -> None:
    """Run ``plugtune train config`` as two simulated machines (torchrun agents)."""
    first, second = node_commands("torchrun", config, free_port())
    log = folder / "second_node.log"
    with log.open("w") as second_log:
        other = subprocess.Popen([*second, *flags], cwd=folder, env=launch_env(),
                                 stdout=second_log,
                                 stderr=subprocess.STDOUT)
        try:
            launch([*first, *flags], folder)
            assert other.wait(timeout=180) == 0, log.read_text()[-3000:]
        finally:
            other.kill()


def on_one_node(config: Path, folder: Path) -> None:
    launch([str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_port", str(free_port()),
            "-m", "plugtune", "train", str(config)], folder)


def assert_same_weights(got: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert got.keys() == expected.keys()
    for name, tensor in expected.items():
        torch.testing.assert_close(got[name], tensor, rtol=0, atol=1e-6, msg=name)


@pytest.mark.parametrize("trainer", ["dpo", "grpo", "agentic", "ppo"])
@pytest.mark.slow
def test_two_simulated_nodes_train_each_trainer_as_one_node(tmp_path: Path,
                                                            trainer: str) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    on_one_node(trainer_config(one, trainer), one)
    on_two_nodes(trainer_config(two, trainer), two)
    assert_same_weights(adapter_weights(two / "out"), adapter_weights(one / "out"))
    log = [json.loads(line) for line in (two / "out" / "trainer_log.jsonl").read_text()
           .splitlines()]
    assert [entry["step"] for entry in log if "loss" in entry or "reward" in entry] == (
        list(range(1, STEPS + 1)))  # global rank 0 alone writes
    assert (two / "out" / "all_results.json").is_file()


@pytest.mark.slow
def test_a_run_stopped_at_a_checkpoint_resumes_on_two_nodes(tmp_path: Path) -> None:
    """Two steps with a checkpoint, then --resume to four, on two machines: the weights
    of four steps in one go (constant learning rate, so the schedule is the same)."""
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    whole.mkdir()
    stopped.mkdir()
    constant = {"lr_scheduler_type": "constant"}
    on_one_node(write_config(whole, **constant), whole)
    on_two_nodes(write_config(stopped, max_steps=2, save_strategy="steps", save_steps=2,
                              **constant), stopped)
    assert (stopped / "out" / "checkpoint-2").is_dir()
    on_two_nodes(write_config(stopped, **constant), stopped, "--resume")
    assert_same_weights(adapter_weights(stopped / "out"), adapter_weights(whole / "out"))
