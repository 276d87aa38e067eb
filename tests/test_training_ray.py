"""``plugtune train --ray``: Ray Train's TorchTrainer runs the trainer on a local Ray
cluster this module starts once (127.0.0.1, 2 CPUs). Two workers train as torchrun's two
processes do — the same losses and adapter, global rank 0 alone writing — and ``--resume``
continues from the newest complete checkpoint; without Ray the error names the extra."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from plugtune import load_config
from plugtune.cli import cli
from plugtune.core.config import RayConfig
from plugtune.core.errors import ConfigError
from plugtune.sdk.cli import CliState
from plugtune.training.run.checkpoints import MARKER
from plugtune.training.run.ray_launch import scaling_config, train_on_ray, with_ray_options
from tests.conftest import needs
from tests.helpers import free_port, log_values, trainer_log
from tests.launching import BIN, adapter_weights, launch, write_config

needs_ray = needs(importlib.util.find_spec("ray") is not None, "ray: pip install 'plugtune[ray]'")
# Both runs: 4 steps of 2 rows per process, checkpoints at steps 2 and 4.
TRAINING = {"save_strategy": "steps", "save_steps": 2}


@pytest.fixture(scope="module")
def ray_address():
    """A Ray cluster of one node on 127.0.0.1 with 2 CPUs, for the whole module; its
    folder is short (Ray's sockets are AF_UNIX paths, at most 107 bytes) and removed."""
    import ray

    folder = tempfile.mkdtemp(prefix="ptray-", dir="/tmp")
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False,
             object_store_memory=100 * 1024**2, _temp_dir=folder,
             _node_ip_address="127.0.0.1")
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        shutil.rmtree(folder, ignore_errors=True)


def ray_train(folder: Path, address: str, *options: str) -> Path:
    """``plugtune train`` under Ray with two workers, as a user runs it against a cluster.
    Its tiny:// cache is the run's own, empty at first: the workers see the driver's
    PLUGTUNE_CACHE_DIR, and rank 0 builds the model there while the other waits."""
    command = [str(BIN / "plugtune"), "train", str(folder / "run.yaml"), "--ray-address",
               address, "--workers", "2", "--set", f"ray.storage_path={folder / 'ray'}",
               *options]
    env = {**os.environ, "PLUGTUNE_CACHE_DIR": str(folder / "cache")}
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder / "out"


@pytest.fixture(scope="module")
def torchrun_output(tmp_path_factory):
    folder = tmp_path_factory.mktemp("torchrun")
    launch([str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_port", str(free_port()),
            "-m", "plugtune", "train", str(write_config(folder, **TRAINING))], folder)
    return folder / "out"


@pytest.fixture(scope="module")
def ray_output(tmp_path_factory, ray_address):
    folder = tmp_path_factory.mktemp("ray")
    write_config(folder, **TRAINING)
    return ray_train(folder, ray_address)


@needs_ray
@pytest.mark.slow
def test_two_ray_workers_train_as_two_torchrun_processes(ray_output, torchrun_output):
    import torch

    assert log_values(ray_output, "loss") == pytest.approx(log_values(torchrun_output, "loss"),
                                                           rel=0, abs=1e-6)
    assert len(log_values(ray_output, "loss")) == 4  # one line per step: rank 0 alone logs
    got, expected = adapter_weights(ray_output), adapter_weights(torchrun_output)
    assert got.keys() == expected.keys()
    for name, tensor in expected.items():
        torch.testing.assert_close(got[name], tensor, rtol=0, atol=1e-6, msg=name)
    results = json.loads((ray_output / "all_results.json").read_text())
    assert results["epoch"] == 16 / 12  # 4 steps x 2 workers x 2 rows: both trained
    for step in (2, 4):
        assert (ray_output / f"checkpoint-{step}" / MARKER).is_file()
    assert (ray_output.parent / "ray").is_dir()  # Ray's own run state, apart from the run's
    assert list((ray_output.parent / "cache" / "tiny").glob("qwen2-*/model.safetensors"))


@needs_ray
@pytest.mark.slow
def test_a_ray_run_resumes_from_its_newest_complete_checkpoint(ray_output, ray_address,
                                                              tmp_path):
    """As if killed while saving step 4: checkpoint-4 has no marker, no adapter or results
    are written yet. --resume discards it, continues from step 2 and ends where the
    uninterrupted run ended."""
    import torch

    shutil.copytree(ray_output.parent, tmp_path, dirs_exist_ok=True)
    write_config(tmp_path, **TRAINING)  # output.dir: the copy
    output = tmp_path / "out"
    (output / "checkpoint-4" / MARKER).unlink()
    for name in ("adapter_model.safetensors", "all_results.json"):
        (output / name).unlink()
    ray_train(tmp_path, ray_address, "--resume")
    got, expected = adapter_weights(output), adapter_weights(ray_output)
    for name, tensor in expected.items():
        torch.testing.assert_close(got[name], tensor, rtol=0, atol=1e-6, msg=name)
    resumed = [entry["step"] for entry in trainer_log(output) if "loss" in entry]
    assert resumed == [1, 2, 3, 4, 3, 4]  # the resumed run logs steps 3 and 4 once more


@pytest.mark.slow
def test_without_ray_the_error_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` does when it is absent
    result = CliRunner().invoke(cli, ["train", str(write_config(tmp_path)), "--workers", "2"],
                                obj=CliState())
    assert result.exit_code == 1
    assert "pip install 'plugtune[ray]'" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("section", "options", "expected"), [
    (None, {"use_ray": None, "workers": None, "address": None}, None),
    (None, {"use_ray": True, "workers": None, "address": None}, RayConfig()),
    (None, {"use_ray": None, "workers": 3, "address": None}, RayConfig(workers=3)),
    ({"workers": 4, "placement_strategy": "SPREAD"},
     {"use_ray": None, "workers": 2, "address": "10.0.0.1:6379"},
     RayConfig(workers=2, placement_strategy="SPREAD", address="10.0.0.1:6379")),
    ({"workers": 4}, {"use_ray": None, "workers": None, "address": None}, RayConfig(workers=4)),
    ({"workers": 4}, {"use_ray": False, "workers": None, "address": None}, None),
])
@pytest.mark.slow
def test_the_command_line_options_set_the_ray_section(tmp_path, section, options, expected):
    path = write_config(tmp_path)
    config = load_config(path, [f"ray={json.dumps(section)}"] if section else [])
    assert with_ray_options(config, **options).ray == expected


@pytest.mark.slow
def test_ray_under_a_launcher_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")  # as torchrun sets it in each process
    config = with_ray_options(load_config(write_config(tmp_path)), use_ray=True, workers=2,
                              address=None)
    with pytest.raises(ConfigError, match="started by a launcher .* or with --no-ray"):
        train_on_ray(config)


@pytest.mark.slow
def test_no_ray_with_a_ray_option_is_an_error(tmp_path):
    config = load_config(write_config(tmp_path))
    with pytest.raises(ConfigError, match="--no-ray: --workers and --ray-address"):
        with_ray_options(config, use_ray=False, workers=2, address=None)


@needs_ray
@pytest.mark.parametrize(("settings", "use_gpu", "resources"), [
    (RayConfig(), False, {"CPU": 1}),  # this machine has no CUDA
    (RayConfig(resources_per_worker={"GPU": 1}), True, {"GPU": 1}),
    (RayConfig(use_gpu=True), True, {"GPU": 1}),
    (RayConfig(resources_per_worker={"CPU": 2, "GPU": 0}), False, {"CPU": 2}),
])
@pytest.mark.slow
def test_workers_use_gpus_when_the_resources_ask_for_them(settings, use_gpu, resources,
                                                          monkeypatch):
    monkeypatch.setattr("plugtune.training.run.ray_launch.cuda_available", lambda: False)
    scaling = scaling_config(settings)
    assert (scaling.use_gpu, scaling.total_resources) == (use_gpu, resources)  # one worker


@needs_ray
@pytest.mark.slow
def test_use_gpu_against_the_resources_is_an_error():
    with pytest.raises(ConfigError, match="ray.use_gpu: False contradicts"):
        scaling_config(RayConfig(use_gpu=False, resources_per_worker={"GPU": 1}))
