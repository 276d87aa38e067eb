"""SIGINT/SIGTERM during training: save a checkpoint at the current step, then stop
(the run end to end is in test_webui.py's stop-and-resume test)."""

from __future__ import annotations

import os
import signal
from types import SimpleNamespace

import pytest

from plugtune.training.graceful_stop import GracefulStop, TrainingStopped, raise_if_stopped


def _state(step: int, max_steps: int = 10) -> SimpleNamespace:
    return SimpleNamespace(global_step=step, max_steps=max_steps)


def _control() -> SimpleNamespace:
    return SimpleNamespace(should_save=False, should_training_stop=False)


ARGS = SimpleNamespace(world_size=1)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
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


def test_on_the_last_step_the_run_just_finishes():
    stop = GracefulStop()
    stop.on_train_begin(ARGS, _state(0), _control())
    os.kill(os.getpid(), signal.SIGTERM)
    control = _control()
    stop.on_step_end(ARGS, _state(10), control)
    stop.on_train_end(ARGS, _state(10), control)
    assert not control.should_training_stop and stop.stopped_at is None
    raise_if_stopped(SimpleNamespace(callback_handler=SimpleNamespace(callbacks=[stop])))
