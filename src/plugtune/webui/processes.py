"""A job the web UI started (training, predict, export) as its own process, recorded in
a JSON file beside its log so that a restarted server finds it again.

The process runs in a session of its own: stopping it sends SIGINT to its whole group
(``accelerate launch`` and its workers alike), the way Ctrl-C in a terminal would. A
training run takes it as "save a checkpoint at this step, then stop"
(:mod:`plugtune.training.run.graceful_stop`), so it stays running until that is written.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plugtune.webui.tailing import last_lines

RUNNING, FINISHED, STOPPED, FAILED = "running", "finished", "stopped", "failed"
# Children of this server: polled so that they are reaped, and their exit code kept.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class Job:
    """One kind of job in one folder: ``<folder>/webui_<kind>.json`` and ``.log``."""

    folder: Path
    kind: str

    @property
    def record_path(self) -> Path:
        return self.folder / f"webui_{self.kind}.json"

    @property
    def log_path(self) -> Path:
        return self.folder / f"webui_{self.kind}.log"

    def record(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.record_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def _write(self, record: dict[str, Any]) -> None:
        self.record_path.write_text(json.dumps(record), encoding="utf-8")

    def start(self, arguments: list[str]) -> None:
        """Run ``python -m <arguments>`` with its output in the job's log."""
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", *arguments]
        with self.log_path.open("ab") as log:
            log.write(f"$ {' '.join(command)}\n".encode())
            log.flush()
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        _CHILDREN[process.pid] = process
        self._write({"pid": process.pid, "command": command, "started": time.time(),
                     "returncode": None, "stopped": False})

    def status(self) -> str | None:
        """running, finished, stopped or failed (None: never started)."""
        record = self.record()
        if record is None:
            return None
        if record["returncode"] is None:
            code = _exit_code(record["pid"])
            if code is _ALIVE:
                return RUNNING
            record["returncode"] = code
            self._write(record)
        if record["stopped"]:
            return STOPPED
        return FINISHED if record["returncode"] == 0 else FAILED

    def stop(self) -> bool:
        """SIGINT to the job's process group; False when it is not running."""
        record = self.record()
        if record is None or self.status() != RUNNING:
            return False
        record["stopped"] = True
        self._write(record)
        try:
            os.killpg(record["pid"], signal.SIGINT)
        except ProcessLookupError:
            return False
        return True

    def tail(self, count: int = 30) -> list[str]:
        return last_lines(self.log_path, count)


_ALIVE = object()


def _exit_code(pid: int) -> object:
    """The exit code of a finished child; for a process another server started (not
    ours to wait for) -1 once it is gone, since its code is not known."""
    child = _CHILDREN.get(pid)
    if child is not None:
        code = child.poll()
        return _ALIVE if code is None else code
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return -1
    except PermissionError:
        return _ALIVE
    return _ALIVE
