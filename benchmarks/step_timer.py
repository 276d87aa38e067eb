"""The step timer every training benchmark's contenders share, and what it measured.

plugtune imports the timer as a callback plugin (``<this file>:step_timer``) and a plain
transformers or TRL loop gets it as a callback object; :func:`shared_timer` hands both
the same module object, so every contender runs the very same callback class.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()
TIMERS: list[Any] = []


def step_timer() -> Any:
    """A callback noting the time and the tokens seen at the end of every step."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.marks: dict[int, tuple[float, int]] = {}

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.marks[0] = (time.perf_counter(), state.num_input_tokens_seen)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.marks[state.global_step] = (time.perf_counter(), state.num_input_tokens_seen)

    timer = StepTimer()
    TIMERS.append(timer)
    return timer


def shared_timer() -> tuple[str, Callable[[], Any], list[Any]]:
    """The timer's plugin reference, its factory and the timers made so far, all from
    the module object plugtune imports."""
    from plugtune.core.importing import import_file

    module = import_file(SCRIPT)
    return f"{SCRIPT}:step_timer", module.step_timer, module.TIMERS


def measured(timer: Any, warmup: int, runtime: float, extra: dict[str, Any]) -> dict[str, Any]:
    """Steps, seconds, tokens and their rates between the end of step ``warmup`` and the
    last step, the trainer's ``runtime``, and this process's peak RSS."""
    last = max(timer.marks)
    start_time, start_tokens = timer.marks[min(warmup, last - 1)]
    end_time, end_tokens = timer.marks[last]
    steps = last - min(warmup, last - 1)
    seconds = end_time - start_time
    tokens = end_tokens - start_tokens
    return {
        "steps": steps,
        "seconds": seconds,
        "tokens": tokens,
        "tokens_per_s": tokens / seconds,
        "steps_per_s": steps / seconds,
        "train_runtime": runtime,
        "total_tokens": end_tokens,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **extra,
    }
