"""OpenAI's chat-completion requests in plugtune's terms: the body validated field by
field (every problem a :class:`RequestError`, answered as OpenAI's error object with a
4xx status), the messages as a :class:`~plugtune.core.records.Conversation` (images from
base64 ``image_url`` parts for a model that takes them), the sampling fields as a
:class:`~plugtune.core.config.GenerationConfig` over the server's defaults."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from plugtune.core.config import GenerationConfig
from plugtune.core.records import ROLES, Conversation, Message, RecordError

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
