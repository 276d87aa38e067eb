"""The callbacks every plugtune run has: the JSONL log, the progress bar, and the
marker that makes a checkpoint count as complete."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from plugtune.training.run.checkpoints import mark_complete
from plugtune.training.run.outputs import LOG_FILE


class JsonlLog(TrainerCallback):
    """One JSON line per log event in ``trainer_log.jsonl``: step, epoch, the logged
    values, tokens seen and seconds since the start. Appends, so a resumed run
    continues the same file."""

    def __init__(self, output_dir: Path) -> None:
        self.path = output_dir / LOG_FILE
        self.started = time.perf_counter()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.started = time.perf_counter()

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        entry = {
            "step": state.global_step,
            "epoch": round(state.epoch or 0.0, 4),
            **logs,
            "tokens": state.num_input_tokens_seen,
            "elapsed": round(time.perf_counter() - self.started, 3),
        }
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")


class CheckpointMarker(TrainerCallback):
    """Marks ``checkpoint-N`` complete once the trainer has finished writing it
    (``on_save`` runs after the weights, optimizer, RNG and trainer state are saved)."""

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                mark_complete(folder, state.global_step)


class RichProgress(TrainerCallback):
    """A progress bar with loss, learning rate, tokens/s and ETA (main process only)."""

    def __init__(self) -> None:
        self.progress: Any = None
        self.task: Any = None
        self.started = 0.0
        self.first_tokens = 0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"), TimeRemainingColumn(), transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task(
            "train", total=state.max_steps, completed=state.global_step, stats=""
        )
        self.started = time.perf_counter()
        self.first_tokens = state.num_input_tokens_seen

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if self.progress is None or not logs or "loss" not in logs:
            return
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        speed = (state.num_input_tokens_seen - self.first_tokens) / elapsed
        rate = logs.get("learning_rate", 0.0)
        stats = f"loss {logs['loss']:.4f}  lr {rate:.2e}  {speed:,.0f} tok/s"
        self.progress.update(self.task, stats=stats)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
