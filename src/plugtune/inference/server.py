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

fastapi is imported here; import this module only where serving is wanted.
"""

from __future__ import annotations

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
from pydantic import BaseModel, ConfigDict, ValidationError

from plugtune.core.config import GenerationConfig
from plugtune.core.errors import PlugtuneError
from plugtune.core.interfaces import Backend
from plugtune.core.records import ROLES, Conversation, Message, RecordError
from plugtune.inference.batching import Batcher
from plugtune.sdk.backends.decoding import joined

# Accepted and ignored: they change nothing about the answer.
IGNORED_FIELDS = ("user", "stream_options", "logprobs", "metadata", "store")
SUPPORTED_FIELDS = (
    "messages", "model", "temperature", "top_p", "max_tokens", "max_completion_tokens",
    "stop", "n", "stream", "top_k", "repetition_penalty",
)


class RequestError(Exception):
    """A request the server cannot answer: becomes an OpenAI-style error response."""

    def __init__(self, message: str, param: str | None = None, status: int = 400,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.message, self.param, self.status, self.code = message, param, status, code

    def response(self) -> JSONResponse:
        error_type = "invalid_request_error" if self.status < 500 else "server_error"
        body = {"message": self.message, "type": error_type, "param": self.param,
                "code": self.code}
        return JSONResponse({"error": body}, status_code=self.status)


class ChatRequest(BaseModel):
    """The fields of ``/v1/chat/completions`` plugtune honours (top_k and
    repetition_penalty are extensions, as in vLLM)."""

    model_config = ConfigDict(extra="forbid")

    messages: list[dict[str, Any]]
    model: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    n: int = 1
    stream: bool = False
    include_usage: bool = False  # from stream_options


def parse_request(body: Any) -> ChatRequest:
    """Validate a chat-completion body; every problem is a :class:`RequestError`."""
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    unknown = sorted(set(body) - set(SUPPORTED_FIELDS) - set(IGNORED_FIELDS))
    if unknown:
        raise RequestError(
            f"unsupported field(s): {', '.join(unknown)}; plugtune supports "
            f"{', '.join(SUPPORTED_FIELDS)}", param=unknown[0],
        )
    fields = {key: value for key, value in body.items() if key not in IGNORED_FIELDS}
    options = body.get("stream_options") or {}
    if isinstance(options, dict) and options.get("include_usage"):
        fields["include_usage"] = True
    try:
        request = ChatRequest.model_validate(fields)
    except ValidationError as error:
        first = error.errors()[0]
        param = ".".join(str(part) for part in first["loc"])
        raise RequestError(f"{param}: {first['msg']}", param=param) from None
    if request.n != 1:
        raise RequestError(f"n: only n=1 is supported (got {request.n})", param="n")
    return request


def to_conversation(messages: list[dict[str, Any]], *, takes_images: bool = False
                    ) -> Conversation:
    """OpenAI chat messages -> a plugtune conversation. Content parts are text, and
    ``image_url`` parts with a base64 ``data:`` URL when the model ``takes_images``:
    each becomes an ``<image>`` placeholder in the text and an image in ``meta``
    (server-side files and remote URLs are never read)."""
    if not messages:
        raise RequestError("messages: at least one message is needed", param="messages")
    converted: list[Message] = []
    images: list[Any] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        role = message.get("role")
        if role == "developer":
            role = "system"
        if role not in ROLES:
            raise RequestError(f"{where}.role: {role!r} is not one of {', '.join(ROLES)}",
                               param=f"{where}.role")
        content = message.get("content")
        if isinstance(content, list):  # content parts: text, and images for a VLM
            content = _join_parts(content, f"{where}.content", takes_images, images)
        if content is None:
            content = ""
        if not isinstance(content, str):
            raise RequestError(f"{where}.content: must be a string or a list of text parts",
                               param=f"{where}.content")
        converted.append(Message(role, content, name=message.get("name")))
    if converted[-1].role not in ("user", "tool"):
        raise RequestError("messages: the last message must be from the user (or a tool)",
                           param="messages")
    meta = {"images": images} if images else {}
    return Conversation(tuple(converted), meta=meta, origin="request")


def _join_parts(parts: list[Any], where: str, takes_images: bool, images: list[Any]) -> str:
    """The text of content parts; each image part is decoded into ``images``."""
    from plugtune.sdk.backends.vision import IMAGE_PLACEHOLDER, load_image

    texts = []
    for index, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            texts.append(str(part.get("text", "")))
            continue
        if kind != "image_url" or not takes_images:
            reason = "" if takes_images else " (this model takes no images)"
            raise RequestError(f"{where}: only text parts are supported{reason}", param=where)
        image_url = part.get("image_url")
        url = image_url.get("url") if isinstance(image_url, dict) else image_url
        field = f"{where}[{index}].image_url.url"
        if not isinstance(url, str) or not url.startswith("data:"):
            raise RequestError(f"{field}: only base64 data: URLs are accepted", param=field)
        try:
            images.append(load_image(url, origin="request", index=len(images)))
        except RecordError as error:
            raise RequestError(f"{field}: {error.problem}", param=field) from None
        texts.append(IMAGE_PLACEHOLDER)
    return "".join(texts)


def to_params(request: ChatRequest, defaults: GenerationConfig) -> GenerationConfig:
    """The request's sampling fields over the server's defaults."""
    update: dict[str, Any] = {}
    for field, target in (("temperature", "temperature"), ("top_p", "top_p"),
                          ("top_k", "top_k"), ("repetition_penalty", "repetition_penalty")):
        value = getattr(request, field)
        if value is not None:
            update[target] = value
    max_tokens = request.max_completion_tokens or request.max_tokens
    if max_tokens is not None:
        update["max_new_tokens"] = max_tokens
    if request.stop:
        stops = [request.stop] if isinstance(request.stop, str) else request.stop
        update["stop"] = [*defaults.stop, *(stop for stop in stops if stop not in defaults.stop)]
    try:
        return GenerationConfig.model_validate({**defaults.model_dump(), **update})
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        param = {"max_new_tokens": "max_tokens"}.get(field, field)
        raise RequestError(f"{param}: {first['msg']}", param=param) from None


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
    counter = TokenCounter(backend)
    created = int(time.time())
    app = FastAPI(title="plugtune", description=f"OpenAI-compatible API serving {model_name}")
    app.state.backend, app.state.model_name, app.state.lock = backend, model_name, lock
    app.state.batcher = batcher

    if api_key:
        expected = f"Bearer {api_key}".encode()

        @app.middleware("http")
        async def _check_key(request: Request, call_next: Any) -> Any:
            if request.url.path.startswith("/v1"):
                given = request.headers.get("authorization", "").encode()
                if not hmac.compare_digest(given, expected):
                    message = ("missing API key: send 'Authorization: Bearer <key>'"
                               if not given else "incorrect API key provided")
                    return RequestError(message, status=401,
                                        code="invalid_api_key").response()
            return await call_next(request)

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

    @app.get("/v1/models")
    def list_models() -> dict[str, Any]:
        model = {"id": model_name, "object": "model", "created": created, "owned_by": "plugtune"}
        return {"object": "list", "data": [model]}

    @app.post("/v1/chat/completions", response_model=None)
    def chat_completions(body: Any = Body(None)) -> Any:  # noqa: B008 (FastAPI idiom)
        request = parse_request(body)
        if request.model not in (None, model_name):
            raise RequestError(f"model {request.model!r} is not served here; "
                               f"this server serves {model_name!r}", param="model",
                               status=404, code="model_not_found")
        conversation = to_conversation(request.messages,
                                       takes_images=getattr(backend, "takes_images", False))
        if augment is not None:
            conversation = augment(conversation)
        params = to_params(request, defaults)
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        if request.stream:
            return StreamingResponse(
                _stream(completion_id, conversation, params, request.include_usage),
                media_type="text/event-stream",
            )
        answer = batcher.submit(conversation, params)
        usage = counter.usage(conversation, answer)
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model_name,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "logprobs": None,
                "finish_reason": _finish_reason(usage, params),
            }],
            "usage": usage,
        }

    async def _stream(completion_id: str, conversation: Conversation,
                      params: GenerationConfig, include_usage: bool) -> AsyncIterator[str]:
        stamp = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            data = {"id": completion_id, "object": "chat.completion.chunk", "created": stamp,
                    "model": model_name, "choices": [choice]}
            return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

        acquired, pieces = False, []
        iterator: Iterator[str] | None = None

        def take_lock() -> None:
            nonlocal acquired
            lock.acquire()
            acquired = True

        try:
            await run_in_threadpool(take_lock)
            yield chunk({"role": "assistant", "content": ""})
            iterator = iter(backend.stream(conversation, params))
            while (piece := await run_in_threadpool(next, iterator, None)) is not None:
                pieces.append(piece)
                yield chunk({"content": piece})
        except PlugtuneError as error:  # the headers are sent: report it in the stream
            yield f"data: {json.dumps({'error': {'message': str(error)}})}\n\n"
            return
        finally:  # also when the client left: stop generating, then free the backend
            close = getattr(iterator, "close", None)
            if close is not None:
                with anyio.CancelScope(shield=True):
                    await run_in_threadpool(close)
            if acquired:
                lock.release()
        usage = counter.usage(conversation, joined(pieces))
        yield chunk({}, _finish_reason(usage, params))
        if include_usage:
            data = {"id": completion_id, "object": "chat.completion.chunk", "created": stamp,
                    "model": model_name, "choices": [], "usage": usage}
            yield f"data: {json.dumps(data)}\n\n"
        yield "data: [DONE]\n\n"

    return app


def _finish_reason(usage: dict[str, int] | None, params: GenerationConfig) -> str:
    if usage is not None and usage["completion_tokens"] >= params.max_new_tokens:
        return "length"
    return "stop"


def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8000,
          log_level: str = "info") -> None:
    """Run ``app`` with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level=log_level)
