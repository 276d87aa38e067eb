"""vLLM's own OpenAI-compatible server as a subprocess that plugtune starts and stops.

vLLM often lives in another venv than plugtune (the CPU build needs older transformers:
``make vllm-venv``), so the server runs with the interpreter that has vllm:
``PLUGTUNE_VLLM_PYTHON``, else this one. ``running(server)`` starts it, waits until
``/v1/models`` answers (an error with the end of its log if it dies or takes too long)
and stops it on exit; its ``base_url`` is what plugtune's ``openai`` backend takes.
``plugtune serve CONFIG --engine vllm`` runs the same command in the foreground.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugtune.core.errors import ConfigError, PlugtuneError
from plugtune.sdk.backends.adapters import CONFIG_ADAPTER

if TYPE_CHECKING:
    from plugtune.core.config import RunConfig

PYTHON_ENV = "PLUGTUNE_VLLM_PYTHON"
LOG_TAIL_CHARS = 4000


@dataclass
class VLLMServer:
    """The command line of ``vllm.entrypoints.openai.api_server`` for one model."""

    model: str
    served_model_name: str | None = None
    adapters: dict[str, str] = field(default_factory=dict)  # LoRA modules by name
    dtype: str = "auto"
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    extra_args: Sequence[str] = ()
    python: str = field(default_factory=lambda: os.environ.get(PYTHON_ENV) or sys.executable)

    @classmethod
    def from_config(cls, config: RunConfig, served_model_name: str | None = None,
                    **settings: Any) -> VLLMServer:
        """The server for ``config.model`` (tiny:// resolved; ``model.adapter`` served as
        the LoRA module 'default'), served as ``model.path`` unless named otherwise."""
        from plugtune.models.sources import resolve_model_path

        model = config.model
        adapters = {CONFIG_ADAPTER: model.adapter} if model.adapter else {}
        return cls(model=resolve_model_path(model.path),
                   served_model_name=served_model_name or model.path, adapters=adapters,
                   dtype=model.dtype, **settings)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def command(self) -> list[str]:
        args = [self.python, "-m", "vllm.entrypoints.openai.api_server", "--model", self.model,
                "--host", self.host, "--port", str(self.port), "--dtype", self.dtype]
        if self.served_model_name:
            args += ["--served-model-name", self.served_model_name]
        if self.adapters:
            args += ["--enable-lora", "--lora-modules",
                     *(f"{name}={path}" for name, path in self.adapters.items())]
        if self.api_key:
            args += ["--api-key", self.api_key]
        return [*args, *self.extra_args]


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now (for a server started right after)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running(server: VLLMServer, *, startup_timeout: float = 600.0,
            log_file: Path | None = None) -> Iterator[str]:
    """Run ``server`` until the block ends; yields its ``base_url`` once ``/v1/models``
    answers. Its output goes to ``log_file`` (a temporary file by default)."""
    log_path = log_file or Path(tempfile.mkstemp(prefix="plugtune-vllm-", suffix=".log")[1])
    with log_path.open("wb") as log:
        process = _start(server, stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL)
        try:
            _wait_until_ready(server, process, log_path, startup_timeout)
            yield server.base_url
        finally:
            _stop(process)


def serve_in_foreground(server: VLLMServer) -> int:
    """Run the server until it exits or is interrupted (``plugtune serve --engine vllm``)."""
    process = _start(server)
    # SIGTERM ends plugtune through `finally` too: the server is in its own process group
    # and would otherwise outlive it.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        return process.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop(process)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _start(server: VLLMServer, **streams: Any) -> subprocess.Popen[bytes]:
    # Its own process group, so that stopping it also stops vLLM's engine processes.
    # Unbuffered: vLLM logs to stdout, and a log file would otherwise lose its last lines
    # (those an error message quotes) when the server dies or is stopped.
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        return subprocess.Popen(server.command(), start_new_session=True, env=environment,
                                **streams)
    except OSError as error:
        raise ConfigError(f"cannot start vLLM's server with {server.python!r} "
                          f"({error}); set {PYTHON_ENV} to a python that has vllm") from None


def _wait_until_ready(server: VLLMServer, process: subprocess.Popen[bytes], log: Path,
                      timeout: float) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {server.api_key}"} if server.api_key else {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PlugtuneError(f"vLLM's server ({server.python} -m vllm…) exited with code "
                                f"{process.returncode} before it answered ({PYTHON_ENV} picks "
                                f"the python that has vllm):\n{_tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.base_url}/models", headers=headers, timeout=5).is_success:
                return
        time.sleep(0.5)
    raise PlugtuneError(f"vLLM's server did not answer {server.base_url}/models within "
                        f"{timeout:.0f} s:\n{_tail(log)}")


def _stop(process: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _tail(log: Path) -> str:
    text = log.read_text(encoding="utf-8", errors="replace")
    return text[-LOG_TAIL_CHARS:] or "(no output)"
