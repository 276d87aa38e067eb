"""Reading tool calls back from a reply, in the formats the built-in templates render:
the content stage of a :class:`~plugtune.sdk.templates.replies.ReplyFormat`.

- :class:`TaggedCalls`: calls between markers, Hermes/Qwen's
  ``<tool_call>\\n{"name": …, "arguments": …}\\n</tool_call>``, content around them;
- :class:`JsonCalls`: a reply that is nothing but JSON calls, Llama 3.1's
  ``{"name": …, "parameters": …}`` (after ``<|python_tag|>`` or not);
- :class:`GLM4Calls`: GLM-4's ``<|assistant|>``-separated items, ``\\ncontent`` or
  ``name\\n{arguments}``;
- :class:`WholeReplyCalls`: any format where the whole reply is calls, from two
  functions (a plugin's own).

Each one's reader streams content as it comes and holds back only what may still turn
into a call; what does not parse as a call is content, written as it came.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from plugtune.core.records import ToolCall
from plugtune.sdk.templates.replies import CallReader, ReplyDelta, held_back

_DECODER = json.JSONDecoder()


def call_from_json(value: Any, arguments_keys: tuple[str, ...] = ("arguments",)) -> ToolCall | None:
    """A call from a decoded ``{"name": str, <an arguments key>: object or string}``
    (arguments absent: none); None for anything else, which then stays content."""
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    keys = [key for key in arguments_keys if key in value]
    if set(value) - {"name", *keys[:1]}:
        return None
    arguments = value[keys[0]] if keys else {}
    return ToolCall(value["name"], arguments) if isinstance(arguments, dict | str) else None


def read_call_json(body: str, arguments_keys: tuple[str, ...] = ("arguments",)) -> ToolCall | None:
    """A call written as one JSON object (None when ``body`` is not one)."""
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return call_from_json(value, arguments_keys)


@runtime_checkable
class SpotsCalls(Protocol):
    """A call format that can tell a reply *meant* a call: content it left as text
    although it starts like a call is a malformed call (agentic rewards and logs count
    them)."""

    def starts_call(self, content: str) -> bool: ...


def _calls(items: list[ToolCall]) -> list[ReplyDelta]:
    return [ReplyDelta(tool_call=call) for call in items]


@dataclass(frozen=True)
class TaggedCalls:
    """Calls between ``open`` and ``close`` markers among the content (Hermes, Qwen2.5,
    Qwen3). The ``separator`` a template writes before a call (Qwen: a newline after
    text) is dropped from the content; a call is ``read`` from the text between the
    markers, stripped. Bad JSON or a call never closed stays content, markers included."""

    open: str = "<tool_call>"
    close: str = "</tool_call>"
    separator: str = "\n"
    read: Callable[[str], ToolCall | None] = read_call_json

    def reader(self) -> CallReader:
        return _TaggedReader(self)

    def starts_call(self, content: str) -> bool:
        return self.open in content


class _Steps:
    """A reader that is a state machine: ``_<state>(text, final, deltas)`` steps run
    until one neither changes the state nor consumes text."""

    state: str

    def read(self, text: str, final: bool) -> tuple[list[ReplyDelta], str]:
        deltas: list[ReplyDelta] = []
        while True:
            state, before = self.state, text
            text = getattr(self, f"_{state}")(text, final, deltas)
            if state == self.state and text == before:
                return deltas, text


class _TaggedReader(_Steps):
    def __init__(self, calls: TaggedCalls) -> None:
        self.calls = calls
        self.state = "content"
        self.dropped = ""  # the separator before this call: written back if it is text

    def _content(self, text: str, final: bool, deltas: list[ReplyDelta]) -> str:
        calls = self.calls
        start = text.find(calls.open)
        if start < 0:
            keep = 0 if final else held_back(text, calls.open, calls.separator + calls.open)
            deltas.append(ReplyDelta(content=text[: len(text) - keep]))
            return text[len(text) - keep:]
        before = text[:start]
        self.dropped = calls.separator if calls.separator and before.endswith(
            calls.separator) else ""
        deltas.append(ReplyDelta(content=before[: len(before) - len(self.dropped)]))
        self.state = "call"
        return text[start + len(calls.open):]

    def _call(self, text: str, final: bool, deltas: list[ReplyDelta]) -> str:
        calls = self.calls
        end = text.find(calls.close)
        if end < 0:
            if final:  # never closed: text
                deltas.append(ReplyDelta(content=self.dropped + calls.open + text))
                self.state = "content"
                return ""
            return text
        body = text[:end]
        call = calls.read(body.strip())
        written = self.dropped + calls.open + body + calls.close
        deltas.append(ReplyDelta(content=written) if call is None else ReplyDelta(tool_call=call))
        self.state = "content"
        return text[end + len(calls.close):]


@dataclass(frozen=True)
class WholeReplyCalls:
    """Calls that are the whole reply, without markers. ``could_be(start)`` says whether
    a reply beginning so may still be calls (it is then held to the end; once False it
    must stay False for every longer start); ``read(reply)`` gives the calls, or None
    for a reply that is content."""

    could_be: Callable[[str], bool]
    read: Callable[[str], list[ToolCall] | None]

    def reader(self) -> CallReader:
        return _WholeReplyReader(self.could_be, self.read)


class _WholeReplyReader:
    def __init__(self, could_be: Callable[[str], bool],
                 read: Callable[[str], list[ToolCall] | None]) -> None:
        self.could_be, self.read_calls = could_be, read
        self.content = False  # decided: the reply is content

    def read(self, text: str, final: bool) -> tuple[list[ReplyDelta], str]:
        if not self.content:
            if not final and self.could_be(text):
                return [], text
            self.content = True
            calls = self.read_calls(text)
            if calls:
                return _calls(calls), ""
        return [ReplyDelta(content=text)], ""


@dataclass(frozen=True)
class JsonCalls:
    """A reply of JSON call objects alone (Llama 3.1's custom tools): an optional
    ``prefix`` (``<|python_tag|>``, when special tokens are kept), then one or more
    ``{"name": …, "parameters": …}`` separated by ``;`` or whitespace. Any other reply,
    a JSON object that is not a call included, is content."""

    prefix: str = "<|python_tag|>"
    arguments_keys: tuple[str, ...] = ("parameters", "arguments")

    def reader(self) -> CallReader:
        return _WholeReplyReader(self.could_be, self.read)

    def starts_call(self, content: str) -> bool:
        text = content.lstrip()
        return text.startswith(self.prefix) or text.startswith('{"name"')

    def could_be(self, start: str) -> bool:
        text = start.lstrip()
        if self.prefix.startswith(text):
            return True
        return self._scan(text.removeprefix(self.prefix))[2]

    def read(self, reply: str) -> list[ToolCall] | None:
        calls, rest, ok = self._scan(reply.lstrip().removeprefix(self.prefix))
        return calls if ok and calls and not rest else None

    def _scan(self, text: str) -> tuple[list[ToolCall], str, bool]:
        """The calls at the start of ``text``, what follows them, and False when
        something that is no call came first."""
        calls: list[ToolCall] = []
        text = text.lstrip()
        while text.startswith("{"):
            try:
                value, end = _DECODER.raw_decode(text)
            except ValueError:
                return calls, text, True  # unfinished (or bad: the end will tell)
            call = call_from_json(value, self.arguments_keys)
            if call is None:
                return calls, text, False
            calls.append(call)
            text = text[end:].lstrip()
            if text.startswith(";"):
                text = text[1:].lstrip()
        return calls, text, not text


_NAME = re.compile(r"[\w.\-]*")


@dataclass(frozen=True)
class GLM4Calls:
    """GLM-4's reply: items separated by ``<|assistant|>``, each a metadata line and a
    body. An empty metadata line makes the body content; a function name makes the body
    a call's JSON arguments. A line that is no name, or arguments that are no JSON
    object, stay content as written."""

    separator: str = "<|assistant|>"
    name: re.Pattern[str] = field(default=_NAME)

    def reader(self) -> CallReader:
        return _ItemReader(self)


class _ItemReader(_Steps):
    """States: ``head`` (the metadata line), ``content``, ``call`` (its name known)."""

    def __init__(self, calls: GLM4Calls) -> None:
        self.calls = calls
        self.state = "head"
        self.marker = ""  # the separator before this item, written back if it is text
        self.function = ""

    def _head(self, text: str, final: bool, deltas: list[ReplyDelta]) -> str:
        line, newline, rest = text.partition("\n")
        if not newline:
            if self.calls.name.fullmatch(line) and not final:
                return text  # may still be a function's name
            if line or self.marker:
                deltas.append(ReplyDelta(content=self.marker))
            self.state = "content"
            return text
        if not line:
            self.state = "content"
            return rest
        if not self.calls.name.fullmatch(line):
            deltas.append(ReplyDelta(content=self.marker))
            self.state = "content"
            return text
        self.state, self.function = "call", line
        return rest

    def _content(self, text: str, final: bool, deltas: list[ReplyDelta]) -> str:
        separator = self.calls.separator
        end = text.find(separator)
        if end < 0:
            keep = 0 if final else held_back(text, separator)
            deltas.append(ReplyDelta(content=text[: len(text) - keep]))
            return text[len(text) - keep:]
        deltas.append(ReplyDelta(content=text[:end]))
        return self._next_item(text[end + len(separator):])

    def _call(self, text: str, final: bool, deltas: list[ReplyDelta]) -> str:
        separator = self.calls.separator
        end = text.find(separator)
        if end < 0 and not final:
            return text
        body = text if end < 0 else text[:end]
        try:
            arguments = json.loads(body)
        except ValueError:
            arguments = None
        if isinstance(arguments, dict):
            deltas.append(ReplyDelta(tool_call=ToolCall(self.function, arguments)))
        else:
            deltas.append(ReplyDelta(content=f"{self.marker}{self.function}\n{body}"))
        if end < 0:
            self.state = "content"
            return ""
        return self._next_item(text[end + len(separator):])

    def _next_item(self, text: str) -> str:
        self.state, self.marker = "head", self.calls.separator
        return text
