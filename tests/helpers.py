"""What many test files share, written once: a free local port, an app served by uvicorn
in a thread, a run's ``trainer_log.jsonl``, and waiting for an event with a deadline
that only a hung test reaches (:mod:`tests.launching` launches distributed runs;
:mod:`tests.tiny_data` holds the small data sets several files train on).

Tests import from here (or from conftest), never from another test file: a test module
is a list of tests, and importing one runs its module-level setup and skips.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
#: How long a test waits for something that takes well under a second when the machine
#: is idle: generous, so that only a hung test (never a busy machine) reaches it.
HUNG_S = 120.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition: Callable[[], T], timeout: float = HUNG_S, what: str = "") -> T:
    """Poll ``condition`` until it returns something truthy, and return that; fail after
    ``timeout`` seconds (generous: the machine may be busy). For a state with no event
    to wait on; never a sleep standing in for one."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


@contextmanager
def threaded_server(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn on a free local port in a thread, for the block; yields
    its base URL (``http://127.0.0.1:<port>``)."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), what="the server to start")
    assert server.started, "the server thread ended before it started"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=HUNG_S)


def trainer_log(output_dir: Path) -> list[dict[str, Any]]:
    """Every entry of a run's ``trainer_log.jsonl``, in order."""
    lines = (output_dir / "trainer_log.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def log_values(output_dir: Path, key: str) -> list[Any]:
    """The values of ``key`` in a run's log, in order (``loss``: the training losses)."""
    return [entry[key] for entry in trainer_log(output_dir) if key in entry]


def image_chat(path: Path) -> dict[str, Any]:
    """An OpenAI chat body asking about the image at ``path`` (sent inline, base64)."""
    import base64

    url = "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode()
    parts = [{"type": "image_url", "image_url": {"url": url}},
             {"type": "text", "text": "Who are they?"}]
    return {"messages": [{"role": "user", "content": parts}], "max_tokens": 6}


def last_logits(backend: Any, conversation: Any, adapter: str | None = "default") -> Any:
    """The transformers backend's next-token logits after ``conversation``'s prompt
    (images included), with the named adapter (None: without; a model with no adapters
    is read as it is)."""
    import torch

    from plugtune.sdk.backends.adapters import adapter_scope

    inputs = backend._encode([backend._prompt(conversation)])
    with torch.inference_mode(), adapter_scope(backend.model, adapter):
        return backend.model(**inputs).logits[0, -1]


def assert_adapter_changes_predictions(adapter: Path, model: str = "tiny://qwen2") -> None:
    """Fail unless the LoRA adapter saved in ``adapter`` changes ``model``'s logits: LoRA's
    B starts at zero, so an adapter that nothing trained (or that was saved before any
    update) leaves every logit exactly as the base model's."""
    import torch
    from peft import PeftModel

    from plugtune.core.config import ModelConfig
    from plugtune.models import load_causal_lm

    base = load_causal_lm(ModelConfig(path=model))
    ids = torch.arange(1, 33).unsqueeze(0)
    with torch.inference_mode():
        before = base(input_ids=ids).logits
        after = PeftModel.from_pretrained(base, adapter)(input_ids=ids).logits
    assert not torch.equal(before, after), f"{adapter}: the saved adapter changes nothing"
