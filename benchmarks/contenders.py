"""Contenders measured in fresh interpreters, one after another, best of interleaved runs.

A benchmark script calls itself with ``--contender NAME`` (and its own arguments); that
child prints one ``BENCHMARK-RESULT {json}`` line, so imports, caches and the peak RSS
are each contender's own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from machine import IDLE_SHARE, TRIES, children_cpu, cpu_seconds, foreign_share

MARKER = "BENCHMARK-RESULT "


def report(result: dict[str, Any]) -> None:
    """What a contender's child process prints for its parent."""
    print(MARKER + json.dumps(result))


def measure(script: Path, name: str, arguments: Sequence[str]) -> dict[str, Any]:
    """Run ``script --contender name *arguments`` in a fresh interpreter; its result."""
    command = [sys.executable, str(script), "--contender", name, *arguments]
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          cwd=script.parent)
    line = next((x for x in done.stdout.splitlines() if x.startswith(MARKER)), None)
    if line is None:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(line.removeprefix(MARKER)))


def best_of(script: Path, names: Sequence[str], arguments: Sequence[str], repeat: int,
            key: str) -> dict[str, dict[str, Any]]:
    """Each contender ``repeat`` times, interleaved; the run of each with the highest
    ``key`` (a throughput)."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for _ in range(repeat):
        for name in names:
            runs[name].append(measure(script, name, arguments))
    return {name: max(found, key=lambda run: run[key]) for name, found in runs.items()}


def measured_worker(command: Sequence[str], name: str) -> dict[str, Any]:
    """Run a worker ``command`` (a fresh interpreter, offline, that prints its result as
    :func:`report` does); the result with ``process_s`` (its wall seconds) and
    ``foreign`` (the share of the machine other processes used meanwhile)."""
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                   "TOKENIZERS_PARALLELISM": "false"}
    started, busy, own = time.perf_counter(), cpu_seconds(), children_cpu()
    done = subprocess.run(list(command), capture_output=True, text=True, env=environment)
    wall = time.perf_counter() - started
    foreign = foreign_share(busy, cpu_seconds(), children_cpu() - own, wall)
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARKER)]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"{name}: failed (exit {done.returncode})")
    return {**json.loads(lines[-1].removeprefix(MARKER)), "process_s": wall, "foreign": foreign}


def least_disturbed(name: str, attempt: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``attempt()``, again (up to ``TRIES`` times) while other processes took more than
    ``IDLE_SHARE`` of the machine meanwhile; the least disturbed result."""
    tries = []
    for _ in range(TRIES):
        tries.append(attempt())
        if tries[-1]["foreign"] < IDLE_SHARE:
            break
        print(f"  ({name}: other processes used {tries[-1]['foreign']:.0%} of the machine; "
              "again)", flush=True)
    return min(tries, key=lambda result: result["foreign"])


def best_clean(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The run with the highest ``key`` and the spread, of the runs no other process
    disturbed (of all runs when every one was)."""
    clean = [run for run in runs if run["foreign"] < IDLE_SHARE] or runs
    speeds = [run[key] for run in clean]
    return {**max(clean, key=lambda run: run[key]), "low": min(speeds), "high": max(speeds),
            "runs": len(clean)}
