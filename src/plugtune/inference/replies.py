"""A generated reply in OpenAI's terms: split into content, ``reasoning_content`` and
``tool_calls`` by the template that rendered the prompt (whole, or as streamed deltas),
with its finish reason, token logprobs and usage.

A template that parses its replies (:class:`~plugtune.sdk.templates.replies.ParsesReplies`:
qwen's ``<tool_call>`` JSON, qwen3's and deepseek-r1's ``<think>``, llama3.1, glm4, or a
plugin's own) decides what is a call and what is reasoning; any other template's
reply is all content. A request's ``chat_template_kwargs`` (``enable_thinking``) make
a configured copy of the template, which renders that request's prompt too.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from plugtune.core.config import GenerationConfig
from plugtune.core.records import ToolCall
from plugtune.inference.http_bodies import RequestError
from plugtune.sdk.templates.replies import (
    ParsesReplies,
    Reply,
    ReplyDelta,
    with_template_options,
)


class ParsedReply:
    """A whole reply as an OpenAI assistant message."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.tool_calls = [tool_call_json(call) for call in reply.tool_calls]

    def message(self) -> dict[str, Any]:
        # OpenAI's content is null beside tool calls when there is no text.
        content = self.reply.content if self.reply.content or not self.tool_calls else None
        message: dict[str, Any] = {"content": content}
        if self.reply.reasoning is not None:
            message["reasoning_content"] = self.reply.reasoning
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        return message


class DeltaStream:
    """A streamed reply as OpenAI delta objects: content and reasoning as they come,
    each tool call whole once its closing marker arrived."""

    def __init__(self, parser: Any) -> None:
        self.parser = parser  # the template's ReplyStream, or None: all content
        self.saw_tool_calls = False
        self._calls = 0

    def feed(self, piece: str) -> list[dict[str, Any]]:
        if self.parser is None:
            return [{"content": str(piece)}] if piece else []
        return [self._delta(delta) for delta in self.parser.feed(str(piece))]

    def finish(self) -> list[dict[str, Any]]:
        if self.parser is None:
            return []
        return [self._delta(delta) for delta in self.parser.finish()]

    def _delta(self, delta: ReplyDelta) -> dict[str, Any]:
        if delta.tool_call is not None:
            self.saw_tool_calls = True
            call = {"index": self._calls, **tool_call_json(delta.tool_call)}
            self._calls += 1
            return {"tool_calls": [call]}
        if delta.reasoning:
            return {"reasoning_content": delta.reasoning}
        return {"content": delta.content}


class ReplyParser:
    """The served template's reply parsing for one request."""

    def __init__(self, template: Any, configured: bool = False) -> None:
        self.parses = isinstance(template, ParsesReplies)
        self._template = template
        # A copy configured for this request renders its prompt; else the backend's own.
        self.template = template if configured else None

    @classmethod
    def for_template(cls, template: Any, options: Mapping[str, Any] | None) -> ReplyParser:
        """The parser of ``template`` configured with a request's
        ``chat_template_kwargs`` (a 400 naming an option it does not take)."""
        if not options:
            return cls(template)
        if template is None:
            raise RequestError("chat_template_kwargs: this backend renders no chat template",
                               param="chat_template_kwargs")
        try:
            return cls(with_template_options(template, options), configured=True)
        except (ValueError, TypeError) as error:
            raise RequestError(f"chat_template_kwargs: {error}",
                               param="chat_template_kwargs") from None

    def parse(self, answer: str) -> ParsedReply:
        if not self.parses:
            return ParsedReply(Reply(str(answer), None, ()))
        return ParsedReply(self._template.parse_reply(str(answer)))

    def stream(self) -> DeltaStream:
        return DeltaStream(self._template.reply_stream() if self.parses else None)


def tool_call_json(call: ToolCall) -> dict[str, Any]:
    """A parsed call as OpenAI's ``tool_calls`` item (arguments as a JSON string)."""
    arguments = call.arguments
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    return {"id": call.id or f"call_{uuid.uuid4().hex[:24]}", "type": "function",
            "function": {"name": call.name, "arguments": arguments}}


def finish_reason(answer: str, params: GenerationConfig, tool_calls: bool) -> str:
    """``tool_calls`` when the reply calls tools; else the backend's reason (``stop`` or
    ``length``), or, from a backend that gives none, ``length`` when the tokens ran out."""
    if tool_calls:
        return "tool_calls"
    reason = getattr(answer, "finish_reason", None)
    if reason in ("stop", "length"):
        return reason
    tokens = getattr(answer, "tokens", None)
    return "length" if tokens is not None and tokens >= params.max_new_tokens else "stop"


def usage(prompt_tokens: int | None, answers: Sequence[str]) -> dict[str, int] | None:
    """Exact token counts (the prompt once, every choice's generated tokens), or None
    when the backend cannot count them."""
    counts = [getattr(answer, "tokens", None) for answer in answers]
    if prompt_tokens is None or any(count is None for count in counts):
        return None
    completion = sum(count for count in counts if count is not None)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion}


def chat_logprobs(answer: str) -> dict[str, Any] | None:
    """An answer's token logprobs in the chat API's shape (None: none computed)."""
    scored = getattr(answer, "logprobs", None)
    if scored is None:
        return None
    return {"content": [
        {**_token(item.token, item.logprob),
         "top_logprobs": [_token(text, logprob) for text, logprob in item.top]}
        for item in scored]}


def _token(text: str, logprob: float) -> dict[str, Any]:
    return {"token": text, "logprob": logprob, "bytes": list(text.encode("utf-8"))}
