"""A real ``plugtune serve`` process for tests: started on a free port, its output in a
file, waited for until it answers, and always stopped."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import HUNG_S, free_port

START_TIMEOUT_S = 120


class ServerProcess:
    """A running ``plugtune -vv serve`` and the file its output goes to."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path, url: str) -> None:
        self.process, self.log, self.url = process, log, url

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def batch_sizes(self) -> list[int]:
        """The batches the server's scheduler logged (at debug level, -vv)."""
        return [int(size) for size in re.findall(r"batch of (\d+) request", self.output())]

    def answered(self) -> list[tuple[int, str]]:
        """``(tokens, finish reason)`` of each request the scheduler answered, in order
        (logged at debug level, -vv)."""
        return [(int(tokens), reason) for tokens, reason in
                re.findall(r"answered (\d+) token\(s\) \((\w+)\)", self.output())]

    def health(self) -> dict[str, Any]:
        """What ``GET /health`` says now (``status``, ``waiting``)."""
        return httpx.get(f"{self.url}/health", timeout=HUNG_S).json()

    def rss_kib(self) -> int:
        """The process's resident memory now (Linux)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text(encoding="utf-8")
        return int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]


@contextmanager
def serving(folder: Path, config: dict[str, Any], *args: str,
            env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    """``plugtune -vv serve`` on ``config`` with ``args``, until the block ends."""
    path = folder / "serve.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    port, log = free_port(), folder / "serve.log"
    environment = {**os.environ, "COLUMNS": "200", **(env or {})}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "plugtune", "-vv", "serve", str(path), "--port", str(port),
             *args], stdout=sink, stderr=subprocess.STDOUT, env=environment)
    running = ServerProcess(process, log, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, f"plugtune serve exited:\n{running.output()}"
            assert time.monotonic() < deadline, (
                f"plugtune serve did not answer within {START_TIMEOUT_S} s:\n{running.output()}")
            try:
                if httpx.get(f"{running.url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        yield running
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
