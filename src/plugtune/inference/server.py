"""An OpenAI-compatible HTTP server over any plugtune backend (``plugtune serve``).

``create_app(backend, model_name)`` gives a FastAPI app with ``GET /health``,
``GET /v1/models``, ``POST /v1/chat/completions`` and ``POST /v1/completions`` (whole
answers, or ``stream: true`` as server-sent events ending with ``data: [DONE]``).

What keeps one request from hurting the others: every body is read size-limited and
validated before anything else sees it (:mod:`~plugtune.inference.http_bodies`,
:mod:`~plugtune.inference.openai_requests`), so a bad one is a 4xx naming its field,
never a 5xx; every request is fitted to the model's context (a 400 with the numbers
otherwise) and queued in one bounded :class:`~plugtune.inference.scheduler.Scheduler`
(429 when full) whose thread answers streamed and whole requests together in batches;
a request whose client leaves, or that passes its deadline, stops at the next
generation step; and :func:`serve` shuts down on SIGTERM/SIGINT within a grace period,
exiting 0. With ``api_key``, every ``/v1`` request needs ``Authorization: Bearer <key>``
(401 otherwise). Errors come back as OpenAI's ``{"error": {"message", "type", "param",
"code"}}``. fastapi is imported here; import this module only where serving is wanted.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from plugtune.agents.environments import Episodes
from plugtune.core.config import GenerationConfig
from plugtune.core.errors import PlugtuneError
from plugtune.core.interfaces import Backend
from plugtune.core.records import Conversation
from plugtune.inference.answering import Answering
from plugtune.inference.chat_completions import ChatCompletions
from plugtune.inference.completions import TextCompletions
from plugtune.inference.http_bodies import RequestError, read_json
from plugtune.inference.scheduler import Scheduler

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 32 * 1024 * 1024  # room for a few base64 images


def create_app(backend: Backend, model_name: str,
               generation: GenerationConfig | None = None, *, api_key: str | None = None,
               batch_window_s: float = 0.01,
               augment: Callable[[Conversation], Conversation] | None = None,
               max_queue: int | None = None, max_body_bytes: int = MAX_BODY_BYTES,
               request_timeout_s: float | None = None, lanes: int = 1,
               episodes: Episodes | None = None) -> FastAPI:
    """An OpenAI-compatible app answering with ``backend`` (already loaded) under the
    model id ``model_name``; ``generation``: the defaults (else the backend's own);
    ``api_key``: the bearer token every ``/v1`` request needs (None: none needed);
    ``batch_window_s``: how long a request waits for others to batch with;
    ``augment``: rewrites each request's conversation before it is answered (RAG: the
    configured retriever's passages in the last user message); ``max_queue``: how many
    requests may wait (None: no limit); ``max_body_bytes``: the largest body taken;
    ``request_timeout_s``: each request's deadline (None: none); ``lanes``: how many
    batches are answered at once (a long answer holds one lane); ``episodes``: the run's
    tools, which a chat request without tools of its own is answered with (the model's
    calls run on the server; None: the model only returns calls to the client)."""
    defaults = generation or getattr(backend, "generation", None) or GenerationConfig()
    scheduler = Scheduler(backend, window_s=batch_window_s, max_queue=max_queue,
                          lanes=lanes)
    answering = Answering(backend, scheduler, request_timeout_s)
    chat = ChatCompletions(answering, model_name, defaults, augment, episodes)
    text = TextCompletions(answering, model_name, defaults)
    created = int(time.time())
    app = FastAPI(title="plugtune", description=f"OpenAI-compatible API serving {model_name}")
    app.state.backend, app.state.model_name = backend, model_name
    app.state.scheduler = scheduler
    if api_key:
        _require_api_key(app, api_key)
    _answer_errors_as_openai(app)

    @app.get("/health")
    def health() -> JSONResponse:
        closing = scheduler.closing
        return JSONResponse({"status": "shutting down" if closing else "ok",
                             "waiting": scheduler.waiting}, status_code=503 if closing else 200)

    @app.get("/v1/models")
    def list_models() -> dict[str, Any]:
        model = {"id": model_name, "object": "model", "created": created, "owned_by": "plugtune"}
        return {"object": "list", "data": [model]}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(request: Request) -> Any:
        return await chat.answer(await read_json(request, max_body_bytes), request)

    @app.post("/v1/completions", response_model=None)
    async def completions(request: Request) -> Any:
        return await text.answer(await read_json(request, max_body_bytes), request)

    return app


def _require_api_key(app: FastAPI, api_key: str) -> None:
    """Every ``/v1`` request must send ``Authorization: Bearer <api_key>`` (else 401)."""
    expected = f"Bearer {api_key}".encode()

    @app.middleware("http")
    async def _check_key(request: Request, call_next: Any) -> Any:
        if request.url.path.startswith("/v1"):
            given = request.headers.get("authorization", "").encode("utf-8", "replace")
            if not hmac.compare_digest(given, expected):
                message = ("missing API key: send 'Authorization: Bearer <key>'"
                           if not given else "incorrect API key provided")
                return RequestError(message, status=401, code="invalid_api_key").response()
        return await call_next(request)


def _answer_errors_as_openai(app: FastAPI) -> None:
    """Request problems and plugtune errors as OpenAI's error object with a 4xx; a bug
    as a 500 in the same shape (logged with its traceback)."""

    @app.exception_handler(RequestError)
    def _request_error(_request: Any, error: RequestError) -> JSONResponse:
        return error.response()

    @app.exception_handler(RequestValidationError)
    def _validation_error(_request: Any, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {"msg": "invalid request"}
        return RequestError(f"invalid request: {first['msg']}").response()

    @app.exception_handler(PlugtuneError)
    def _plugtune_error(_request: Any, error: PlugtuneError) -> JSONResponse:
        return RequestError(str(error)).response()

    @app.exception_handler(Exception)
    def _bug(_request: Any, error: Exception) -> JSONResponse:
        log.error("internal error answering a request", exc_info=error)
        return RequestError(f"internal error: {type(error).__name__}: {error}",
                            status=500, code="internal_error").response()


def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8000,
          log_level: str = "info", shutdown_grace_s: float = 5.0) -> None:
    """Run ``app`` with uvicorn until SIGTERM or SIGINT. Then new requests are refused
    (503), running ones get ``shutdown_grace_s`` seconds to finish before they are
    stopped, and this returns (the process exits 0)."""
    import uvicorn

    scheduler: Scheduler = app.state.scheduler

    class GracefulServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            if not self.should_exit:
                log.info("shutting down: %.1f s for running requests to finish",
                         shutdown_grace_s)
                scheduler.close(shutdown_grace_s)
            super().handle_exit(sig, frame)

    config = uvicorn.Config(app, host=host, port=port, log_level=log_level,
                            timeout_graceful_shutdown=int(shutdown_grace_s) + 2)
    with _signals_end_quietly():
        GracefulServer(config).run()


@contextlib.contextmanager
def _signals_end_quietly() -> Iterator[None]:
    """uvicorn re-raises the signal that stopped it, with the handler it found; with
    Python's defaults that kills the process (SIGTERM) or raises KeyboardInterrupt
    (SIGINT) after a clean shutdown. Here those handlers do nothing, so a clean
    shutdown exits 0."""
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
