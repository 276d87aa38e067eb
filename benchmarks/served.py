"""``plugtune serve`` as a real subprocess for the benchmarks that measure it
(inference.py, serving.py): started on a free port, waited for, logged at debug level
(each batch the scheduler forms), stopped when the ``with`` block ends."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SERVER_START_S = 180


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``plugtune serve`` in a subprocess, until the ``with`` block ends."""

    def __init__(self, folder: Path, threads: int | None, *, new_tokens: int, batch: int,
                 options: Sequence[str] = (), model: str = "tiny://qwen2") -> None:
        self.config = folder / "serve.yaml"
        self.config.write_text(json.dumps({
            "model": {"path": model, "dtype": "float32"},
            "generation": {"max_new_tokens": new_tokens},
            "backend": {"name": "transformers", "batch_size": batch},
        }), encoding="utf-8")
        self.port, self.threads, self.options = free_port(), threads, list(options)
        self.new_tokens = new_tokens
        self.log = folder / "serve.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        import httpx

        environment = dict(os.environ)
        environment["COLUMNS"] = "200"  # one log line per record
        if self.threads:
            environment["OMP_NUM_THREADS"] = str(self.threads)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "plugtune", "-vv", "serve", str(self.config),
                 "--port", str(self.port), *self.options], stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
            )
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"plugtune serve exited:\n{self.log.read_text()[-4000:]}")
            try:
                httpx.get(f"{self.url}/models", timeout=1).raise_for_status()
                return self
            except httpx.HTTPError:
                time.sleep(0.2)
        self.__exit__()
        raise SystemExit(f"plugtune serve did not answer:\n{self.log.read_text()[-4000:]}")

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def batch_sizes(self) -> list[int]:
        """The batches the server's scheduler logged so far (debug level: -vv)."""
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return [int(size) for size in re.findall(r"batch of (\d+) request", text)]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def ask(self, client: Any, messages: list[dict[str, Any]]) -> str:
        response = client.post(f"{self.url}/chat/completions", timeout=600, json={
            "messages": messages, "temperature": 0,
            "max_tokens": self.new_tokens,
        })
        response.raise_for_status()
        return str(response.json()["choices"][0]["message"]["content"])
