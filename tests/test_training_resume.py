"""A run killed with SIGKILL resumes from its newest complete checkpoint and ends with
the same weights as a run that was never interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from plugtune import Session, load_config
from plugtune.core.errors import ConfigError
from plugtune.training import train
from plugtune.training.run.checkpoints import MARKER, resume_checkpoint
from tests.conftest import REPO
from tests.helpers import wait_for
from tests.launching import adapter_weights

# Holds the run once checkpoint-8 is saved, until the test kills it: the kill lands
# after that checkpoint and before the run's end however busy the machine is.
HOLD_PLUGIN = """
    import time
    from plugtune import hookimpl

    def hold_after_step_8():
        from transformers import TrainerCallback

        class HoldAfterStep8(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                if state.global_step == 8:
                    time.sleep(600)  # killed long before; only a hung test gets here

        return HoldAfterStep8()

    @hookimpl
    def register_callbacks(register):
        register("hold_after_step_8", hold_after_step_8)
"""


def write_config(path, output):
    path.write_text(textwrap.dedent(f"""
        data: {{train: [{REPO / "examples" / "data" / "tiny_alpaca.jsonl"}]}}
        training: {{max_steps: 16, save_steps: 4, logging_steps: 2, learning_rate: 1.0e-3,
                    per_device_train_batch_size: 4}}
        output: {{dir: {output}}}
    """))
    return path


@pytest.mark.slow
def test_sigkill_then_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    plugin = tmp_path / "slow.py"
    plugin.write_text(textwrap.dedent(HOLD_PLUGIN))
    killed = tmp_path / "killed"
    config = write_config(tmp_path / "run.yaml", killed)
    command = [sys.executable, "-m", "plugtune", "--plugin", str(plugin), "train", str(config),
               "--callback", "hold_after_step_8"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    marker = killed / "checkpoint-8" / MARKER
    wait_for(lambda: marker.exists() or process.poll() is not None, what="checkpoint-8")
    assert marker.exists(), process.stderr.read().decode()[-2000:]
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (killed / "adapter_model.safetensors").exists()  # it really died mid-run
    # What a crash while saving leaves: a checkpoint folder without the marker.
    (killed / "checkpoint-12").mkdir(exist_ok=True)
    (killed / "checkpoint-12" / "adapter_model.safetensors").write_bytes(b"half a file")

    session = Session()
    resumed = train(load_config(config), session, resume="auto")
    # The half-written folder was thrown away and the resumed run saved step 12 anew.
    assert (killed / "checkpoint-12" / MARKER).exists()
    assert (killed / "checkpoint-12" / "adapter_model.safetensors").read_bytes() != b"half a file"
    straight_config = load_config(config, [f"output.dir={tmp_path / 'straight'}"])
    straight = train(straight_config, session)

    import torch

    first, second = adapter_weights(killed), adapter_weights(tmp_path / "straight")
    assert first.keys() == second.keys()
    for name in first:
        torch.testing.assert_close(first[name], second[name], rtol=1e-4, atol=1e-5)
    assert resumed["num_input_tokens_seen"] == straight["num_input_tokens_seen"]
    steps = [line for line in (killed / "trainer_log.jsonl").read_text().splitlines()]
    assert len(steps) >= 8  # the log continues across the restart


@pytest.mark.slow
def test_resume_refuses_an_incomplete_checkpoint(tmp_path):
    half = tmp_path / "checkpoint-3"
    half.mkdir()
    with pytest.raises(ConfigError, match="not a complete checkpoint"):
        resume_checkpoint(str(half), tmp_path)
    assert resume_checkpoint("auto", tmp_path) is None
    assert not half.exists()  # auto removes what a crash left half-written
