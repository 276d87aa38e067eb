"""A generated reply split as its chat template wrote it: content, reasoning and tool
calls — whole, or incrementally while a stream arrives.

Why here: the template that renders a family's reasoning and tool calls is the one that
knows how to read them back, so a family declares a :class:`ReplyFormat` beside its
rendering (``reply_format`` on :class:`~plugtune.sdk.templates.family.TemplateBase`)
and the server asks the template (:class:`ParsesReplies`), never a table of families
of its own. A format composes two stages: an optional reasoning block
(:class:`ThinkBlock`) and a way of writing calls (:mod:`.tool_calls`: Hermes/Qwen tags,
Llama 3.1 JSON, GLM-4 items, or a plugin's own :class:`CallFormat`).

One reader serves both uses: :meth:`ReplyFormat.parse_reply` feeds the whole text to a
stream, so a streamed reply's deltas always join to the whole one however the text was
cut. Text that looks like a call but does not parse (bad JSON, an unclosed tag) stays in
the content: nothing is lost and nothing raises. A reasoning block the reply never
closes (it ran out of tokens) is reasoning: it was streamed as such already.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from plugtune.core.records import ToolCall
from plugtune.sdk.templates.options import with_template_options

__all__ = [
    "THINK",
    "CallFormat",
    "CallReader",
    "FormatStream",
    "ParsesReplies",
    "Reply",
    "ReplyDelta",
    "ReplyFormat",
    "ReplyStream",
    "ThinkBlock",
    "held_back",
    "join_deltas",
    "with_template_options",  # re-exported: the server configures and parses together
]


@dataclass(frozen=True, slots=True)
class Reply:
    """A whole reply; ``reasoning`` is None when the reply wrote none."""

    content: str
    reasoning: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True, slots=True)
class ReplyDelta:
    """One piece of a streamed reply: content text, reasoning text, or one whole call
    (exactly one of them is set)."""

    content: str = ""
    reasoning: str = ""
    tool_call: ToolCall | None = None


class ReplyStream(Protocol):
    """Reads one reply as it arrives. ``feed`` returns what is certain so far (a tail
    that may still become a marker is held back); ``finish`` returns the rest. The
    deltas of all calls join (:func:`join_deltas`) to ``parse_reply(whole text)``."""

    def feed(self, piece: str) -> list[ReplyDelta]: ...

    def finish(self) -> list[ReplyDelta]: ...


@runtime_checkable
class ParsesReplies(Protocol):
    """A template that reads its model's replies back (the server's ``tool_calls`` and
    ``reasoning_content``); a template without it has replies that are all content."""

    def parse_reply(self, text: str) -> Reply: ...

    def reply_stream(self) -> ReplyStream: ...


class CallReader(Protocol):
    """The content stage of one reply: turns text into content and call deltas."""

    def read(self, text: str, final: bool) -> tuple[list[ReplyDelta], str]:
        """The deltas certain from ``text`` and the tail held back until more text
        comes (none when ``final``: then everything is decided)."""
        ...


class CallFormat(Protocol):
    """How a family writes tool calls: a new :class:`CallReader` per reply."""

    def reader(self) -> CallReader: ...


def join_deltas(deltas: Iterable[ReplyDelta]) -> Reply:
    """The whole reply a stream's deltas make."""
    content, reasoning, calls = [], [], []
    for delta in deltas:
        content.append(delta.content)
        reasoning.append(delta.reasoning)
        if delta.tool_call is not None:
            calls.append(delta.tool_call)
    return Reply("".join(content), "".join(reasoning) or None, tuple(calls))


def held_back(text: str, *markers: str) -> int:
    """How many characters at the end of ``text`` may begin one of ``markers`` (held
    back from a stream until the next piece says whether they do)."""
    longest = 0
    for marker in markers:
        for size in range(min(len(marker) - 1, len(text)), longest, -1):
            if marker.startswith(text[-size:]):
                longest = size
                break
    return longest


class _AllContent:
    """The content stage of a family that writes no calls."""

    def read(self, text: str, final: bool) -> tuple[list[ReplyDelta], str]:
        return [ReplyDelta(content=text)], ""


class _NoCalls:
    def reader(self) -> CallReader:
        return _AllContent()


@dataclass(frozen=True)
class ThinkBlock:
    """Reasoning in a block at the start of the reply (Qwen3, DeepSeek-R1:
    ``<think>\\n…\\n</think>\\n\\n``), the newlines the template writes around it dropped.

    ``opened_by_prompt``: the family's generation prompt already writes the opening
    marker (Qwen3-Thinking-2507, DeepSeek-R1-0528), so a reply starts inside the block
    and text before ``close`` is reasoning even without an ``open`` of its own. An
    empty block (Qwen3's ``enable_thinking=False`` answer) is no reasoning.
    """

    open: str = "<think>"
    close: str = "</think>"
    opened_by_prompt: bool = False

    def reader(self) -> _ThinkReader:
        return _ThinkReader(self)


THINK = ThinkBlock()


class _ThinkReader:
    """The reasoning stage: ``start`` (is there a block?), ``inside``, ``after`` (the
    newlines before the content), then done."""

    def __init__(self, block: ThinkBlock) -> None:
        self.block = block
        self.state = "start"
        self.started = False  # the reasoning's leading newlines are behind us

    def read(self, text: str, final: bool) -> tuple[list[ReplyDelta], str, bool]:
        deltas: list[ReplyDelta] = []
        if self.state == "start":
            text = self._start(text, final)
        if self.state == "inside":
            text = self._inside(text, final, deltas)
        if self.state == "after":
            text = text.lstrip("\n")
            if text or final:
                self.state = "done"
        return deltas, text, self.state == "done"

    def _start(self, text: str, final: bool) -> str:
        opening = self.block.open
        if text.startswith(opening):
            self.state = "inside"
            return text[len(opening):]
        if final or not opening.startswith(text):
            self.state = "inside" if self.block.opened_by_prompt else "done"
        return text

    def _inside(self, text: str, final: bool, deltas: list[ReplyDelta]) -> str:
        if not self.started:
            text = text.lstrip("\n")
            self.started = bool(text)
        closing = self.block.close
        end = text.find(closing)
        if end >= 0:
            deltas.append(ReplyDelta(reasoning=text[:end].rstrip("\n")))
            self.state = "after"
            return text[end + len(closing):]
        if final:
            deltas.append(ReplyDelta(reasoning=text.rstrip("\n")))
            self.state = "done"
            return ""
        # Hold a tail that may begin the closing marker, and the newlines before it.
        keep = held_back(text, closing)
        body = text[: len(text) - keep]
        keep += len(body) - len(body.rstrip("\n"))
        deltas.append(ReplyDelta(reasoning=text[: len(text) - keep]))
        return text[len(text) - keep:]


@dataclass(frozen=True)
class ReplyFormat:
    """How a family writes replies: an optional reasoning block, then content with
    calls written as ``calls`` says (None: a family without tool calls). ``lead``: what
    the template writes before every answer (Mistral's space after ``[/INST]``), dropped
    when the reply starts with it. A format parses replies itself (it is a
    :class:`ParsesReplies`), which is all a template does with it."""

    think: ThinkBlock | None = None
    calls: CallFormat | None = None
    lead: str = ""

    def reply_stream(self) -> FormatStream:
        return FormatStream(self)

    def parse_reply(self, text: str) -> Reply:
        stream = self.reply_stream()
        return join_deltas([*stream.feed(text), *stream.finish()])


class FormatStream:
    """A :class:`ReplyStream` over a :class:`ReplyFormat`: the reasoning stage until its
    block ends, then the call reader."""

    def __init__(self, reply_format: ReplyFormat) -> None:
        self._lead = reply_format.lead
        self._think = reply_format.think.reader() if reply_format.think else None
        self._calls = (reply_format.calls or _NoCalls()).reader()
        self._held = ""

    def feed(self, piece: str) -> list[ReplyDelta]:
        return self._read(self._held + piece, final=False)

    def finish(self) -> list[ReplyDelta]:
        return self._read(self._held, final=True)

    def _read(self, text: str, final: bool) -> list[ReplyDelta]:
        deltas: list[ReplyDelta] = []
        if self._lead:
            if not final and self._lead.startswith(text):
                self._held = text
                return []
            text, self._lead = text.removeprefix(self._lead), ""
        if self._think is not None:
            deltas, text, done = self._think.read(text, final)
            if not done:
                self._held = text
                return _kept(deltas)
            self._think = None
        more, self._held = self._calls.read(text, final)
        return _kept([*deltas, *more])


def _kept(deltas: list[ReplyDelta]) -> list[ReplyDelta]:
    return [delta for delta in deltas
            if delta.content or delta.reasoning or delta.tool_call is not None]
