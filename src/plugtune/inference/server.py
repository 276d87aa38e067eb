"""An OpenAI-compatible HTTP server over any plugtune backend (``plugtune serve``).

``create_app(backend, model_name)`` gives a FastAPI app with ``GET /v1/models`` and
``POST /v1/chat/completions`` (whole answers, or ``stream: true`` as server-sent events
in OpenAI's ``chat.completion.chunk`` format, ending with ``data: [DONE]``). Messages
become a :class:`~plugtune.core.records.Conversation`, the sampling fields a
:class:`~plugtune.core.config.GenerationConfig` (the backend's ``generation`` defaults
for what a request leaves out). Concurrent whole-answer requests are batched by a
:class:`Batcher`: those arriving within ``batch_window_s`` of each other (and while a
batch runs) with the same sampling parameters, up to the backend's ``batch_size``, are
answered by one ``backend.generate`` call. A lock is held around every backend call (for
a stream, until its last piece), since a backend holds one model and its active adapter,
so streams are answered one at a time. With ``api_key``, every ``/v1`` request needs
``Authorization: Bearer <key>`` (401 otherwise). Errors come back as OpenAI's
``{"error": {"message", "type", "param", "code"}}`` with status 400 (401 for a missing or
wrong key, 404 for an unknown model).

The requests' translation is :mod:`~plugtune.inference.openai_requests`. fastapi is
imported here; import this module only where serving is wanted.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
from fastapi import Body, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse

from plugtune.core.config import GenerationConfig
from plugtune.core.errors import PlugtuneError
from plugtune.core.interfaces import Backend
from plugtune.core.records import Conversation
from plugtune.inference.batching import Batcher
from plugtune.inference.openai_requests import (
    RequestError,
    parse_request,
    to_conversation,
    to_params,
)
from plugtune.sdk.backends.decoding import joined


class TokenCounter:
    """Prompt and completion token counts, when the backend exposes its tokenizer and
    template (the transformers backend does); otherwise usage is reported as null.

    Completion tokens are the backend's count (``Answer.tokens``), else the answer text
    re-tokenized. Counting uses a private copy of the tokenizer: it runs in the request
    threads while the batcher's thread encodes a batch with padding (see
    :func:`~plugtune.data.tokenizer.unpadded_copy`)."""

    def __init__(self, backend: Any) -> None:
        from plugtune.data.tokenizer import unpadded_copy

        tokenizer = getattr(backend, "tokenizer", None)
        fast = tokenizer is not None and getattr(tokenizer, "is_fast", False)
        self.tokenizer = unpadded_copy(tokenizer) if fast else tokenizer
        self.template = getattr(backend, "template", None)

    @property
    def available(self) -> bool:
        return self.tokenizer is not None and self.template is not None

    def usage(self, conversation: Conversation, answer: str) -> dict[str, int] | None:
        if not self.available:
            return None
        prompt = self.template.render(conversation, add_generation_prompt=True)
        prompt_tokens = self._count(prompt)
        # A backend's Answer knows its generated tokens; a streamed answer is re-tokenized.
        completion_tokens = getattr(answer, "tokens", None)
        if completion_tokens is None:
            completion_tokens = self._count(answer)
        return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens}

    def _count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])


class ChatCompletions:
    """``/v1/chat/completions`` over one backend: whole answers through the batcher,
    streams one at a time under the backend's lock."""

    def __init__(self, backend: Backend, model_name: str, defaults: GenerationConfig,
                 lock: threading.Lock, batcher: Batcher,
                 augment: Callable[[Conversation], Conversation] | None) -> None:
        self.backend, self.model_name, self.defaults = backend, model_name, defaults
        self.lock, self.batcher, self.augment = lock, batcher, augment
        self.counter = TokenCounter(backend)

    def answer(self, body: Any) -> Any:
        """The response to one request body: a completion, or a stream of chunks."""
        request = parse_request(body)
        if request.model not in (None, self.model_name):
            raise RequestError(f"model {request.model!r} is not served here; "
                               f"this server serves {self.model_name!r}", param="model",
                               status=404, code="model_not_found")
        conversation = to_conversation(request.messages,
                                       takes_images=getattr(self.backend, "takes_images", False))
        if self.augment is not None:
            conversation = self.augment(conversation)
        params = to_params(request, self.defaults)
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        if request.stream:
            return StreamingResponse(
                self.stream(completion_id, conversation, params, request.include_usage),
                media_type="text/event-stream",
            )
        answer = self.batcher.submit(conversation, params)
        usage = self.counter.usage(conversation, answer)
        choice = {"index": 0, "message": {"role": "assistant", "content": answer},
                  "logprobs": None, "finish_reason": _finish_reason(usage, params)}
        return {"id": completion_id, "object": "chat.completion", "created": int(time.time()),
                "model": self.model_name, "choices": [choice], "usage": usage}

    async def stream(self, completion_id: str, conversation: Conversation,
                     params: GenerationConfig, include_usage: bool) -> AsyncIterator[str]:
        """Server-sent events: a role chunk, a chunk per piece, the finish reason, the
        usage (if asked) and ``[DONE]``; an error after the headers goes in the stream."""
        chunk = _Chunks(completion_id, self.model_name)
        pieces: list[str] = []
        try:
            async with _held(self.lock), contextlib.aclosing(
                    _pieces(self.backend.stream(conversation, params))) as stream:
                yield chunk({"role": "assistant", "content": ""})
                async for piece in stream:
                    pieces.append(piece)
                    yield chunk({"content": piece})
        except PlugtuneError as error:  # the headers are sent: report it in the stream
            yield f"data: {json.dumps({'error': {'message': str(error)}})}\n\n"
            return
        usage = self.counter.usage(conversation, joined(pieces))
        yield chunk({}, _finish_reason(usage, params))
        if include_usage:
            yield chunk.usage(usage)
        yield "data: [DONE]\n\n"


class _Chunks:
    """``chat.completion.chunk`` events of one streamed completion."""

    def __init__(self, completion_id: str, model_name: str) -> None:
        self.base = {"id": completion_id, "object": "chat.completion.chunk",
                     "created": int(time.time()), "model": model_name}

    def __call__(self, delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return f"data: {json.dumps({**self.base, 'choices': [choice]}, ensure_ascii=False)}\n\n"

    def usage(self, usage: dict[str, int] | None) -> str:
        return f"data: {json.dumps({**self.base, 'choices': [], 'usage': usage})}\n\n"


@contextlib.asynccontextmanager
async def _held(lock: threading.Lock) -> AsyncIterator[None]:
    """The backend's lock, taken in a worker thread (never blocking the event loop) and
    released however the stream ends."""
    await run_in_threadpool(lock.acquire)
    try:
        yield
    finally:
        lock.release()


async def _pieces(pieces: Iterator[str]) -> AsyncIterator[str]:
    """A backend's streamed pieces, each drawn in a worker thread; when the client leaves
    (or anything else ends the stream) the generator is closed, which stops generating."""
    iterator = iter(pieces)
    try:
        while (piece := await run_in_threadpool(next, iterator, None)) is not None:
            yield piece
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(close)


def create_app(backend: Backend, model_name: str,
               generation: GenerationConfig | None = None, *, api_key: str | None = None,
               batch_window_s: float = 0.01,
               augment: Callable[[Conversation], Conversation] | None = None) -> FastAPI:
    """An OpenAI-compatible app answering with ``backend`` (already loaded) under the
    model id ``model_name``; ``generation``: the defaults (else the backend's own);
    ``api_key``: the bearer token every ``/v1`` request needs (None: none needed);
    ``batch_window_s``: how long a request waits for others to batch with;
    ``augment``: rewrites each request's conversation before it is answered (RAG: the
    configured retriever's passages in the last user message)."""
    defaults = generation or getattr(backend, "generation", None) or GenerationConfig()
    lock = threading.Lock()
    batcher = Batcher(backend, lock, window_s=batch_window_s)
    chat = ChatCompletions(backend, model_name, defaults, lock, batcher, augment)
    created = int(time.time())
    app = FastAPI(title="plugtune", description=f"OpenAI-compatible API serving {model_name}")
    app.state.backend, app.state.model_name, app.state.lock = backend, model_name, lock
    app.state.batcher = batcher
    if api_key:
        _require_api_key(app, api_key)
    _answer_errors_as_openai(app)

    @app.get("/v1/models")
    def list_models() -> dict[str, Any]:
        model = {"id": model_name, "object": "model", "created": created, "owned_by": "plugtune"}
        return {"object": "list", "data": [model]}

    @app.post("/v1/chat/completions", response_model=None)
    def chat_completions(body: Any = Body(None)) -> Any:  # noqa: B008 (FastAPI idiom)
        return chat.answer(body)

    return app


def _require_api_key(app: FastAPI, api_key: str) -> None:
    """Every ``/v1`` request must send ``Authorization: Bearer <api_key>`` (else 401)."""
    expected = f"Bearer {api_key}".encode()

    @app.middleware("http")
    async def _check_key(request: Request, call_next: Any) -> Any:
        if request.url.path.startswith("/v1"):
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                message = ("missing API key: send 'Authorization: Bearer <key>'"
                           if not given else "incorrect API key provided")
                return RequestError(message, status=401, code="invalid_api_key").response()
        return await call_next(request)


def _answer_errors_as_openai(app: FastAPI) -> None:
    """Request problems and plugtune errors as OpenAI's error object with a 4xx."""

    @app.exception_handler(RequestError)
    def _request_error(_request: Any, error: RequestError) -> JSONResponse:
        return error.response()

    @app.exception_handler(RequestValidationError)
    def _validation_error(_request: Any, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {"msg": "invalid request"}
        return RequestError(f"invalid request body: {first['msg']}").response()

    @app.exception_handler(PlugtuneError)
    def _plugtune_error(_request: Any, error: PlugtuneError) -> JSONResponse:
        return RequestError(str(error)).response()


def _finish_reason(usage: dict[str, int] | None, params: GenerationConfig) -> str:
    if usage is not None and usage["completion_tokens"] >= params.max_new_tokens:
        return "length"
    return "stop"


def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8000,
          log_level: str = "info") -> None:
    """Run ``app`` with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level=log_level)
