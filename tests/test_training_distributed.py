"""Several processes: DDP over gloo with torchrun, and DeepSpeed ZeRO-2 through
``accelerate launch`` — both on this CPU, through the real launchers."""

from __future__ import annotations

import json
import subprocess
import textwrap

import pytest

from tests.conftest import REPO
from tests.helpers import free_port
from tests.launching import (
    BIN,
    adapter_weights,
    launch,
    launch_env,
    node_commands,
    write_config,
)


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(tmp_path):
    config = write_config(tmp_path)
    launch([str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_port", str(free_port()),
            "-m", "plugtune", "train", str(config)], tmp_path)
    output = tmp_path / "out"
    assert (output / "adapter_model.safetensors").is_file()
    results = json.loads((output / "all_results.json").read_text())
    # 4 steps x 2 processes x 2 rows = 16 of the 12 records: both ranks trained.
    assert results["epoch"] == 16 / 12
    log = [json.loads(line) for line in (output / "trainer_log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log if "loss" in entry] == [1, 2, 3, 4]  # rank 0 only


@pytest.mark.slow
def test_deepspeed_zero2_through_accelerate_launch(tmp_path):
    ds_config = REPO / "examples" / "deepspeed" / "ds_z2_config.json"
    config = write_config(tmp_path, save_strategy="steps", save_steps=4, deepspeed=str(ds_config))
    launch([str(BIN / "accelerate"), "launch", "--num_processes", "1", "--num_machines", "1",
            "--use_deepspeed", "--deepspeed_config_file", str(ds_config),
            "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_port", str(free_port()),
            "-m", "plugtune", "train", str(config)], tmp_path)
    output = tmp_path / "out"
    assert (output / "adapter_model.safetensors").is_file()
    # ZeRO's own optimizer state: DeepSpeed, not plain DDP, ran the steps.
    assert list((output / "checkpoint-4" / "global_step4").glob("*optim_states.pt"))


@pytest.mark.slow
def test_ppo_on_two_cpu_processes(tmp_path):
    from tests.conftest import write_jsonl
    from tests.tiny_data import PROMPTS, SHARE_OF_E

    reward = tmp_path / "count_e.py"
    reward.write_text(SHARE_OF_E)
    data = write_jsonl(tmp_path / "prompts.jsonl", PROMPTS)
    config = tmp_path / "ppo.yaml"
    config.write_text(textwrap.dedent(f"""
        data: {{train: [{data}]}}
        trainer: {{name: ppo, max_new_tokens: 8, mini_batch_size: 2, num_ppo_epochs: 1}}
        rewards: [{reward}:share_of_e]
        training: {{max_steps: 3, logging_steps: 1, per_device_train_batch_size: 2,
                    save_strategy: no}}
        output: {{dir: {tmp_path / "out"}}}
    """))
    launch([str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_port", str(free_port()),
            "-m", "plugtune", "train", str(config)], tmp_path)
    output = tmp_path / "out"
    assert (output / "adapter_model.safetensors").is_file()
    assert (output / "value_head.safetensors").is_file()
    log = [json.loads(line) for line in (output / "trainer_log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [1, 2, 3]  # rank 0 alone writes
    # each step: 2 processes x 2 prompts of the 12
    assert [entry["epoch"] for entry in log] == [round(4 * s / len(PROMPTS), 4) for s in (1, 2, 3)]
    results = json.loads((output / "all_results.json").read_text())
    assert results["epoch"] == round(12 / len(PROMPTS), 4)


@pytest.fixture(scope="module")
def one_node_weights(tmp_path_factory):
    """The adapter one torchrun agent with two processes trains."""
    folder = tmp_path_factory.mktemp("one_node")
    launch([str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_port", str(free_port()),
            "-m", "plugtune", "train", str(write_config(folder))], folder)
    return adapter_weights(folder / "out")


@pytest.mark.parametrize("launcher", ["torchrun", "accelerate"])
@pytest.mark.slow
def test_two_simulated_nodes_train_as_one_node_with_two_processes(tmp_path, one_node_weights,
                                                                  launcher):
    """Two machines' worth of launchers on this one — torchrun agents with --nnodes 2, or
    accelerate with --num_machines 2, one process each, on 127.0.0.1 over gloo — train
    to the weights of one node with two processes; global rank 0 alone writes logs and
    results. They train from a data.prepared folder that global rank 0 encodes while the
    other waits: the same rows as the one node's encoding on the fly."""
    import torch

    config = write_config(tmp_path, prepared=tmp_path / "prepared")
    first, second = node_commands(launcher, config, free_port())
    with (tmp_path / "second_node.log").open("w") as second_log:
        other = subprocess.Popen(second, cwd=tmp_path, env=launch_env(), stdout=second_log,
                                 stderr=subprocess.STDOUT)
        try:
            launch(first, tmp_path)
            assert other.wait(timeout=120) == 0, (tmp_path / "second_node.log").read_text()
        finally:
            other.kill()
    got = adapter_weights(tmp_path / "out")
    assert got.keys() == one_node_weights.keys()
    for name, tensor in one_node_weights.items():
        torch.testing.assert_close(got[name], tensor, rtol=0, atol=1e-6, msg=name)
    log = [json.loads(line) for line in
           (tmp_path / "out" / "trainer_log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log if "loss" in entry] == [1, 2, 3, 4]  # rank 0 only
    results = json.loads((tmp_path / "out" / "all_results.json").read_text())
    assert results["epoch"] == 16 / 12  # both nodes' processes trained
    assert (tmp_path / "prepared" / "manifest.json").is_file()
