"""SIGINT/SIGTERM during training: save a checkpoint at the current step, then stop —
the callback alone, and two processes under torchrun (one process stopped and resumed
end to end is test_webui.py's stop-and-resume test)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from types import SimpleNamespace

import pytest

from plugtune.training.run.graceful_stop import GracefulStop, TrainingStopped, raise_if_stopped


def _state(step: int, max_steps: int = 10) -> SimpleNamespace:
    return SimpleNamespace(global_step=step, max_steps=max_steps)


def _control() -> SimpleNamespace:
    return SimpleNamespace(should_save=False, should_training_stop=False)


ARGS = SimpleNamespace(world_size=1)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.slow
def test_a_signal_saves_then_stops_at_the_step_end(sig):
    before = signal.getsignal(sig)
    stop = GracefulStop()
    stop.on_train_begin(ARGS, _state(0), _control())
    control = _control()
    stop.on_step_end(ARGS, _state(3), control)
    assert not control.should_save and not control.should_training_stop  # no signal yet
    os.kill(os.getpid(), sig)  # handled: the test process lives on
    os.kill(os.getpid(), sig)  # a launcher forwarding it: the same request
    stop.on_step_end(ARGS, _state(4), control)
    assert control.should_save and control.should_training_stop and stop.stopped_at == 4
    stop.on_train_end(ARGS, _state(4), control)
    assert signal.getsignal(sig) is before
    trainer = SimpleNamespace(callback_handler=SimpleNamespace(callbacks=[stop]),
                              args=SimpleNamespace(output_dir="out"))
    with pytest.raises(TrainingStopped, match=f"by {sig.name} at step 4: checkpoint-4"):
        raise_if_stopped(trainer)


@pytest.mark.slow
def test_on_the_last_step_the_run_just_finishes():
    stop = GracefulStop()
    stop.on_train_begin(ARGS, _state(0), _control())
    os.kill(os.getpid(), signal.SIGTERM)
    control = _control()
    stop.on_step_end(ARGS, _state(10), control)
    stop.on_train_end(ARGS, _state(10), control)
    assert not control.should_training_stop and stop.stopped_at is None
    raise_if_stopped(SimpleNamespace(callback_handler=SimpleNamespace(callbacks=[stop])))


@pytest.mark.slow
def test_two_processes_stop_at_one_step_and_save_its_checkpoint(tmp_path):
    """torchrun's agent forwards the SIGINT its workers already got from the process
    group (the same request); the ranks agree on the step, save, and all leave."""
    from plugtune.training.run.checkpoints import latest_complete
    from tests.helpers import free_port, wait_for
    from tests.launching import BIN, write_config
    from tests.webui_helpers import logged_steps

    config = write_config(tmp_path, max_steps=500)
    out = tmp_path / "out"
    with (tmp_path / "run.log").open("w") as log:
        process = subprocess.Popen(
            [str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_port", str(free_port()),
             "-m", "plugtune", "train", str(config)],
            cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: len(logged_steps(out)) >= 3, 300, "three logged steps")
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    stopped_at = max(logged_steps(out))
    assert stopped_at < 500
    assert latest_complete(out) == out / f"checkpoint-{stopped_at}"
    output = (tmp_path / "run.log").read_text()
    assert f"stopped by SIGINT at step {stopped_at}" in output
