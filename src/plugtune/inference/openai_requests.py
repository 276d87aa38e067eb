"""OpenAI's chat-completion requests in plugtune's terms: the body validated field by
field (every problem a :class:`RequestError`, answered as OpenAI's error object with a
4xx status), the messages as a :class:`~plugtune.core.records.Conversation` (tool calls,
tool results, images from base64 ``image_url`` parts for a model that takes them), the
sampling fields as a :class:`~plugtune.core.config.GenerationConfig` over the server's
defaults. Ranges are OpenAI's (temperature ≤ 2, …): a value the model would turn into
NaN probabilities is refused here rather than failing a batch."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from plugtune.core.config import GenerationConfig
from plugtune.core.records import Conversation, Message, RecordError, ToolCall
from plugtune.inference.http_bodies import RequestError

# Accepted and ignored: they change nothing about the answer.
IGNORED_FIELDS = ("user", "store", "service_tier", "parallel_tool_calls")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FunctionCall(_Strict):
    name: str = Field(min_length=1, max_length=256)
    arguments: str | dict[str, Any] = "{}"


class ToolCallIn(_Strict):
    id: str | None = Field(None, max_length=256)
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(BaseModel):
    """One message; fields OpenAI's API returns and clients echo back (``refusal``,
    ``annotations``, …) are ignored."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = Field(None, max_length=256)
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = Field(None, max_length=256)
    reasoning_content: str | None = None


class FunctionSpec(BaseModel):
    model_config = ConfigDict(extra="allow")  # strict, description, …: passed on as given

    name: str = Field(min_length=1, max_length=256)
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ToolSpec(_Strict):
    type: Literal["function"] = "function"
    function: FunctionSpec


class NamedTool(_Strict):
    type: Literal["function"] = "function"
    function: dict[str, str]


class ResponseFormat(_Strict):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None


class StreamOptions(_Strict):
    include_usage: bool = False
    continuous_usage_stats: bool = False


class SamplingFields(_Strict):
    """The sampling fields chat and text completions share (top_k and
    repetition_penalty are extensions, as in vLLM)."""

    model: str | None = None
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=-1, le=1_000_000, description="-1 or 0: disabled.")
    repetition_penalty: float | None = Field(None, gt=0.0, le=10.0)
    presence_penalty: float | None = Field(None, ge=0.0, le=0.0)
    frequency_penalty: float | None = Field(None, ge=0.0, le=0.0)
    max_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    n: int = Field(1, ge=1, le=16)
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    stream: bool = False
    stream_options: StreamOptions | None = None

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatRequest(SamplingFields):
    """The fields of ``/v1/chat/completions`` plugtune honours."""

    messages: list[ChatMessage] = Field(min_length=1, max_length=4096)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    tools: list[ToolSpec] | None = Field(None, max_length=256)
    tool_choice: Literal["none", "auto", "required"] | NamedTool | None = None
    response_format: ResponseFormat | None = None
    chat_template_kwargs: dict[str, Any] | None = None
    # OpenAI's string pairs; the served tools' environment resets with them
    # (plugtune.inference.served_episodes), else they are not used.
    metadata: dict[str, str] | None = Field(None, max_length=16)


def validated(model: type[SamplingFields], body: Any) -> Any:
    """``body`` validated as ``model``; the first problem as a 400 naming its field."""
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    fields = {key: value for key, value in body.items() if key not in IGNORED_FIELDS}
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        first = error.errors()[0]
        param = "".join(f"[{part}]" if isinstance(part, int) else f".{part}"
                        for part in first["loc"]).lstrip(".")
        if first["type"] == "extra_forbidden":
            supported = ", ".join(name for name in model.model_fields)
            raise RequestError(f"{param}: unsupported field; plugtune supports {supported}",
                               param=param) from None
        raise RequestError(f"{param}: {first['msg']}", param=param or None) from None


def parse_request(body: Any) -> ChatRequest:
    """Validate a chat-completion body; every problem is a :class:`RequestError`."""
    request: ChatRequest = validated(ChatRequest, body)
    if request.response_format is not None and request.response_format.type != "text":
        raise RequestError(
            f"response_format: {request.response_format.type!r} is not supported: plugtune "
            "does not constrain decoding; ask for JSON in the prompt instead",
            param="response_format")
    if request.top_logprobs is not None and not request.logprobs:
        raise RequestError("top_logprobs: needs logprobs: true", param="top_logprobs")
    if request.tool_choice not in (None, "none", "auto"):
        raise RequestError(
            "tool_choice: only 'auto' and 'none' are supported: plugtune does not force "
            "a call (no constrained decoding)", param="tool_choice")
    return request


def to_conversation(request: ChatRequest, *, takes_images: bool = False) -> Conversation:
    """The request's messages (and tools, unless ``tool_choice`` is ``"none"``) as a
    plugtune conversation. Content parts are text, and ``image_url`` parts with a base64
    ``data:`` URL when the model ``takes_images``: each becomes an ``<image>``
    placeholder in the text and an image in ``meta`` (server-side files and remote URLs
    are never read). A tool result takes its tool's name from the call it answers."""
    converted: list[Message] = []
    images: list[Any] = []
    call_names: dict[str, str] = {}
    for index, message in enumerate(request.messages):
        where = f"messages[{index}]"
        content = message.content
        if isinstance(content, list):  # content parts: text, and images for a VLM
            content = _join_parts(content, f"{where}.content", takes_images, images)
        calls = tuple(_tool_call(call, f"{where}.tool_calls[{number}]")
                      for number, call in enumerate(message.tool_calls or ()))
        call_names.update({call.id: call.name for call in calls if call.id})
        name = message.name or (call_names.get(message.tool_call_id or "")
                                if message.role == "tool" else None)
        role = "system" if message.role == "developer" else message.role
        converted.append(Message(role, content or "", tool_calls=calls,
                                 reasoning=message.reasoning_content, name=name))
    if converted[-1].role not in ("user", "tool"):
        raise RequestError("messages: the last message must be from the user (or a tool)",
                           param="messages")
    tools = () if request.tool_choice == "none" else tuple(
        tool.model_dump(exclude_none=True) for tool in request.tools or ())
    meta = {"images": images} if images else {}
    return Conversation(tuple(converted), tools=tools, meta=meta, origin="request")


def _tool_call(call: ToolCallIn, where: str) -> ToolCall:
    """A call as templates render it: JSON-object arguments as a mapping."""
    arguments: Any = call.function.arguments
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            raise RequestError(f"{where}.function.arguments: not a JSON object",
                               param=f"{where}.function.arguments") from None
    if not isinstance(arguments, dict):
        raise RequestError(f"{where}.function.arguments: not a JSON object",
                           param=f"{where}.function.arguments")
    return ToolCall(call.function.name, arguments, call.id)


def _join_parts(parts: list[dict[str, Any]], where: str, takes_images: bool,
                images: list[Any]) -> str:
    """The text of content parts; each image part is decoded into ``images``."""
    from plugtune.sdk.backends.vision import IMAGE_PLACEHOLDER, load_image

    texts = []
    for index, part in enumerate(parts):
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
            continue
        if kind != "image_url" or not takes_images:
            reason = "" if takes_images else " (this model takes no images)"
            raise RequestError(f"{where}[{index}]: only text parts are supported{reason}",
                               param=f"{where}[{index}]")
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


def to_params(request: SamplingFields, defaults: GenerationConfig,
              max_tokens: int | None = None) -> GenerationConfig:
    """The request's sampling fields over the server's defaults (``max_tokens``: the
    request's limit, when it set one)."""
    update: dict[str, Any] = {}
    for field in ("temperature", "top_p", "repetition_penalty", "seed"):
        value = getattr(request, field)
        if value is not None:
            update[field] = value
    if request.top_k is not None:
        update["top_k"] = max(request.top_k, 0)
    if max_tokens is not None:
        update["max_new_tokens"] = max_tokens
    if request.stop:
        stops = [request.stop] if isinstance(request.stop, str) else request.stop
        if len(stops) > 16 or not all(stops):
            raise RequestError("stop: at most 16 non-empty strings", param="stop")
        update["stop"] = [*defaults.stop, *(stop for stop in stops if stop not in defaults.stop)]
    return GenerationConfig.model_validate({**defaults.model_dump(), **update})
