"""Stopping a run without losing its steps: SIGINT or SIGTERM (Ctrl-C, the web UI's
Stop, a scheduler preempting the job) ends training at the end of the current step,
after a checkpoint is saved there, so ``plugtune train --resume`` continues from the
step the run stopped at rather than from the last ``save_steps`` multiple.

The signal only raises a flag; the trainer's own loop saves (``control.should_save``,
so the checkpoint is written and marked complete like any other) and stops
(``control.should_training_stop``). :func:`raise_if_stopped` then ends the run with a
:class:`TrainingStopped` error instead of evaluating and saving the final weights, as an
interrupted run should. A launcher (``accelerate launch``, ``torchrun``) forwards the
signal it got to its workers, who got one already from the process group: a signal
within :data:`SAME_REQUEST_S` of the first is the same request. A later one stops at
once, the way a second Ctrl-C does.
"""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType
from typing import Any

from transformers import TrainerCallback

from plugtune.core.errors import PlugtuneError

SIGNALS = (signal.SIGINT, signal.SIGTERM)
SAME_REQUEST_S = 5.0


class TrainingStopped(PlugtuneError):
    """The run was asked to stop and saved a checkpoint at the step it stopped at."""


class GracefulStop(TrainerCallback):
    """Turns SIGINT/SIGTERM during training into "save a checkpoint, then stop"."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self.stopped_at: int | None = None
        self._first = 0.0
        self._previous: dict[int, Any] = {}

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if threading.current_thread() is threading.main_thread():  # handlers live there
            self._previous = {sig: signal.signal(sig, self._request) for sig in SIGNALS}

    def _request(self, signum: int, frame: FrameType | None) -> None:
        if self.signal_name is None:
            self.signal_name, self._first = signal.Signals(signum).name, time.monotonic()
        elif time.monotonic() - self._first > SAME_REQUEST_S:
            self._restore()
            signal.raise_signal(signum)  # asked again: stop now, as without this callback

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        asked = self.signal_name is not None and state.global_step < state.max_steps
        if _anywhere(asked, args):  # on the last step the run ends and saves anyway
            self.stopped_at = state.global_step
            control.should_save = True
            control.should_training_stop = True

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._restore()

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}


def _anywhere(flag: bool, args: Any) -> bool:
    """``flag`` on any rank: every process must stop at the same step, or the ones that
    go on wait forever on the ones that left (one small all-reduce per step, only with
    several processes)."""
    if args.world_size <= 1:
        return flag
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        return flag
    value = torch.tensor([int(flag)], device=args.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def raise_if_stopped(trainer: Any) -> None:
    """After ``trainer.train()``: a :class:`TrainingStopped` naming the step and the
    checkpoint when a :class:`GracefulStop` of ``trainer`` ended it early."""
    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, GracefulStop) and callback.stopped_at is not None:
            step = callback.stopped_at
            raise TrainingStopped(
                f"stopped by {callback.signal_name} at step {step}: checkpoint-{step} is "
                f"saved in {trainer.args.output_dir}; continue with plugtune train CONFIG "
                "--resume")
