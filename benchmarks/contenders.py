"""Contenders measured in fresh interpreters, one after another, best of interleaved runs.

A benchmark script calls itself with ``--contender NAME`` (and its own arguments); that
child prints one ``BENCHMARK-RESULT {json}`` line, so imports, caches and the peak RSS
are each contender's own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
