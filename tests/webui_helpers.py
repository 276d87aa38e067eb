"""What the web UI tests share: a config that trains tiny://qwen2 in seconds, waiting
on a condition with a deadline, and killing whatever processes a test's runs left."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tests.conftest import REPO

TINY_DATA = str(REPO / "examples" / "data" / "tiny_alpaca.jsonl")
T = TypeVar("T")


def tiny_config(**training: Any) -> dict[str, Any]:
    """A run of a few steps on the example data, with a test split and a metric."""
    return {
        "data": {"train": [TINY_DATA], "test": [TINY_DATA], "max_samples": 16},
        "training": {"max_steps": 4, "logging_steps": 1, "per_device_train_batch_size": 4,
                     **training},
        "evaluation": {"metrics": ["exact_match"]},
        "generation": {"max_new_tokens": 8},
    }


def wait_for(condition: Callable[[], T], timeout: float = 120.0, what: str = "") -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout``
    seconds (generous: the machine may be busy), never sleep as a correctness check."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def kill_jobs(runs_dir: Path) -> None:
    """SIGKILL the process group of every job record under ``runs_dir``."""
    for record in runs_dir.glob(".webui/*/webui_*.json"):
        pid = json.loads(record.read_text())["pid"]
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
