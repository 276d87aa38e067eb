"""Message lists in any spelling (sharegpt tags, OpenAI roles) → canonical messages.

:class:`Turns` collects messages together with where each came from in the row, so that
``check_messages`` (the one rule for role order) reports ``conversations[3].from``
rather than an index into a list the user never wrote.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from plugtune.core.records import Message, RecordError, ToolCall
from plugtune.plugins.loaders.format_options import Tags
from plugtune.plugins.loaders.row_context import (
    RowContext,
    describe,
    parse_json,
    resolve_media,
    type_name,
)
from plugtune.sdk.backends.vision import IMAGE_PLACEHOLDER
from plugtune.sdk.turns import FinalRole, check_messages

_CHECK_FIELD = re.compile(r"messages\[(\d+)\](?:\.(role|content))?")
_REASONING_KEYS = ("reasoning_content", "reasoning")


@dataclass(frozen=True, slots=True)
class Source:
    """Where a message came from: a message object (with its role and content keys) or a
    plain column such as alpaca's ``instruction``."""

    path: str
    role_key: str | None = None
    content_key: str | None = None


class Turns:
    """Messages under construction, validated with the row's own field names."""

    def __init__(self, ctx: RowContext, field: str, tags: Tags) -> None:
        self.ctx, self.field, self.tags = ctx, field, tags
        self.messages: list[Message] = []
        self.sources: list[Source] = []
        self.extras: dict[str, dict[str, Any]] = {}
        self.images: list[str] = []  # from image content parts, in order
        self._calls: tuple[ToolCall, ...] = ()
        self._results = 0

    def add(self, message: Message, source: Source) -> None:
        """Append a message; a tool result without a name takes its call's name."""
        if message.role == "tool":
            if message.name is None and self._results < len(self._calls):
                message = dataclasses.replace(message, name=self._calls[self._results].name)
            self._results += 1
        elif message.role == "assistant":
            self._calls, self._results = message.tool_calls, 0
        self.messages.append(message)
        self.sources.append(source)

    def add_text(self, role: str, content: str, field: str) -> None:
        self.add(Message(role, content), Source(field))

    def read(self, value: object, field: str) -> None:
        """Append every message of a list of message objects."""
        if not isinstance(value, list):
            raise self.ctx.error(field, f"must be a list of messages, got {type_name(value)}")
        for index, item in enumerate(value):
            where = f"{field}[{index}]"
            source = Source(where, self.tags.role_tag, self.tags.content_tag)
            self.add(read_message(self.ctx, item, where, self.tags, self.extras, self.images),
                     source)

    def read_prompt(self, value: object, field: str) -> None:
        """A prompt given as a string (one user turn) or as a list of messages."""
        if isinstance(value, str):
            self.add_text("user", value, field)
        elif isinstance(value, list):
            self.read(value, field)
        else:
            raise self.ctx.error(
                field, f"must be a string or a list of messages, got {type_name(value)}"
            )

    def prepend_system(self) -> None:
        """Put the ``system`` column first, unless the messages already start with one
        (then the column stays in ``meta``, as LLaMA-Factory lets the message win)."""
        if self.messages and self.messages[0].role == "system":
            return
        system = self.ctx.text("system")
        if system and system.strip():
            self.messages.insert(0, Message("system", system))
            self.sources.insert(0, Source(self.ctx.key("system")))

    def check(self, final: FinalRole) -> tuple[Message, ...]:
        """The messages, after ``check_messages`` with errors located in the row."""
        try:
            check_messages(self.messages, origin=self.ctx.origin, final=final)
        except RecordError as error:
            raise self.ctx.error(self._locate(error.field), error.problem) from None
        return tuple(self.messages)

    def meta(self) -> dict[str, Any]:
        """Message keys that no canonical field holds, by message (``message_fields``),
        and the images of content parts (``images``: the row's images column must then
        be empty, or which comes first would be a guess)."""
        meta: dict[str, Any] = {"message_fields": self.extras} if self.extras else {}
        if self.images:
            if self.ctx.enabled("images") and self.ctx.row.get(self.ctx.key("images")):
                raise self.ctx.error(self.ctx.key("images"), "images are given both as "
                                     "content parts and in this column; use one of them")
            meta["images"] = list(self.images)
        return meta

    def _locate(self, field: str) -> str:
        match = _CHECK_FIELD.fullmatch(field)
        if match is None:
            return self.field
        source = self.sources[int(match[1])]
        key = {"role": source.role_key, "content": source.content_key}.get(match[2] or "")
        return f"{source.path}.{key}" if key else source.path


def read_message(
    ctx: RowContext, item: object, where: str, tags: Tags, extras: dict[str, dict[str, Any]],
    images: list[str] | None = None,
) -> Message:
    """One message object; a ``function`` turn (LLaMA-Factory's function_call, a JSON
    text) becomes an assistant message with tool calls."""
    if not isinstance(item, Mapping):
        raise ctx.error(where, f"must be a message object, got {type_name(item)}")
    tag = item.get(tags.role_tag)
    role_field = f"{where}.{tags.role_tag}"
    if tag is None:
        raise ctx.error(role_field, "missing")
    roles = tags.roles()
    if not isinstance(tag, str) or tag not in roles:
        expected = ", ".join(roles)
        raise ctx.error(role_field, f"unknown role {describe(tag)}; expected one of {expected}")
    role = roles[tag]
    content_field = f"{where}.{tags.content_tag}"
    content = read_content(ctx, item.get(tags.content_tag), content_field, images)
    calls = read_tool_calls(ctx, item.get("tool_calls"), f"{where}.tool_calls")
    if role == "function":
        role = "assistant"
        calls += read_tool_calls(
            ctx, parse_json(content, origin=ctx.origin, field=content_field), content_field
        )
        content = ""
    if calls and role != "assistant":
        raise ctx.error(f"{where}.tool_calls", f"only assistant messages call tools, not {role}")
    reasoning_key = next(
        (key for key in _REASONING_KEYS if item.get(key) is not None), _REASONING_KEYS[0]
    )
    reasoning, name = item.get(reasoning_key), item.get("name")
    for key, value in ((reasoning_key, reasoning), ("name", name)):
        if value is not None and not isinstance(value, str):
            raise ctx.error(f"{where}.{key}", f"must be a string, got {type_name(value)}")
    known = {tags.role_tag, tags.content_tag, "tool_calls", "name", reasoning_key}
    extra = {key: value for key, value in item.items() if key not in known}
    if extra:
        extras[where] = extra
    return Message(role, content, calls, reasoning, name)


def read_content(ctx: RowContext, value: object, field: str,
                 images: list[str] | None = None) -> str:
    """A message's text: a string, or a list of content parts joined: text parts
    (OpenAI's ``{"type": "text", "text": …}``) and, when ``images`` collects them, image
    parts (``{"type": "image_url", "image_url": {"url": …}}`` or ``{"type": "image",
    "image": …}``) written as ``<image>`` placeholders. Missing content reads as empty,
    which the role check reports."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise ctx.error(field, f"must be a string, got {type_name(value)}")
    texts = []
    for index, part in enumerate(value):
        where = f"{field}[{index}]"
        kind = part.get("type") if isinstance(part, Mapping) else "text"
        if kind in IMAGE_PARTS and isinstance(part, Mapping):
            if images is None:
                raise ctx.error(where, "an image part in an answer: images go in the prompt")
            images.append(image_reference(ctx, part, where))
            texts.append(IMAGE_PLACEHOLDER)
            continue
        text = part.get("text", part.get("value")) if isinstance(part, Mapping) else part
        if kind != "text":
            raise ctx.error(where, "only text and image content parts are supported")
        if not isinstance(text, str):
            raise ctx.error(where, f"must be text, got {type_name(text)}")
        texts.append(text)
    return "".join(texts)


IMAGE_PARTS = ("image_url", "image")


def image_reference(ctx: RowContext, part: Mapping[str, Any], where: str) -> str:
    """An image part's local file (``file://`` or a path, relative ones under
    ``media_dir``) or base64 ``data:`` URL, under its type's key (OpenAI's
    ``image_url.url``) or ``value`` (LLaMA-Factory's v1 files); remote URLs are refused
    here, not when their batch comes."""
    key = part["type"] if part["type"] in part else "value"  # LLaMA-Factory's v1: value
    value, field = part.get(key), f"{where}.{key}"
    if isinstance(value, Mapping):
        value, field = value.get("url"), f"{field}.url"
    if not isinstance(value, str) or not value.strip():
        raise ctx.error(field, f"must be an image path or data: URL, got {type_name(value)}")
    if value.startswith("file://"):
        value = value.removeprefix("file://")
    elif "://" in value:
        raise ctx.error(field, f"{value!r}: only local files and data: URLs (plugtune "
                               "downloads nothing)")
    return resolve_media(value, ctx.options.media_dir)


def read_tool_calls(ctx: RowContext, value: object, field: str) -> tuple[ToolCall, ...]:
    """Tool calls in OpenAI's form (``{"function": {"name", "arguments"}, "id"}``) or
    LLaMA-Factory's (``{"name", "arguments"}``); one call or a list. Arguments are kept
    as the source gave them."""
    if value is None:
        return ()
    calls = [value] if isinstance(value, Mapping) else value
    if not isinstance(calls, list):
        raise ctx.error(field, f"must be a list of tool calls, got {type_name(value)}")
    parsed = []
    for index, call in enumerate(calls):
        where = f"{field}[{index}]" if isinstance(value, list) else field
        function = call.get("function", call) if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping):
            raise ctx.error(where, f"must be a tool call object, got {type_name(call)}")
        name, call_id = function.get("name"), call.get("id")
        if not isinstance(name, str) or not name.strip():
            raise ctx.error(f"{where}.name", "a tool call needs a name")
        if call_id is not None and not isinstance(call_id, str):
            raise ctx.error(f"{where}.id", f"must be a string, got {type_name(call_id)}")
        arguments = function.get("arguments")
        parsed.append(ToolCall(name, {} if arguments is None else arguments, call_id))
    return tuple(parsed)
