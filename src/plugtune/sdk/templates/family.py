"""What every built-in chat template shares: building segments and refusing what it cannot render.

A template turns a :class:`~plugtune.core.records.Conversation` into
:class:`~plugtune.core.interfaces.Segment` pieces whose texts join to exactly what the
model's own Jinja template renders. The trainable pieces are what the model writes after
the generation prompt: the answer and the end-of-turn token that makes it stop, never
the role header and never the newline after the end-of-turn token.
"""

from __future__ import annotations

from typing import ClassVar, NoReturn

from pydantic import BaseModel

from plugtune.core.errors import ConfigError, PlugtuneError
from plugtune.core.interfaces import Segment
from plugtune.core.records import Conversation
from plugtune.sdk.templates.default_system import (
    TemplateOptions,
    with_default_system,
    without_added_system,
)
from plugtune.sdk.templates.replies import Reply, ReplyFormat, ReplyStream

PLAIN = ReplyFormat()  # a reply that is all content


class TemplateError(PlugtuneError, ValueError):
    """A conversation the template cannot render the way the model expects."""


class SegmentBuilder:
    """Collects pieces, merging neighbours that belong to the same message and loss mask.

    Some families (GLM, Baichuan 2) never write an end-of-turn token: an answer ends where
    the next turn's role token begins. ``open_answer`` marks such an answer; the next piece
    of another message then gives its leading stop string to that answer, trainable, so
    the model learns to emit it. ``close_answer`` supplies one when no turn follows.
    """

    def __init__(self, stop_strings: tuple[str, ...] = ()) -> None:
        self._texts: list[str] = []
        self._keys: list[tuple[bool, int]] = []
        self._stop_strings = stop_strings
        self._open: int | None = None

    def add(self, text: str, message: int = -1, trainable: bool = False) -> None:
        if not text:
            return
        if self._open is not None and message != self._open:
            stop = next((s for s in self._stop_strings if text.startswith(s)), None)
            if stop is not None:
                self._append(stop, self._open, True)
                text = text[len(stop) :]
            self._open = None
        if text:
            self._append(text, message, trainable)

    def open_answer(self, message: int) -> None:
        self._open = message

    def close_answer(self, stop: str) -> None:
        """End a still-open answer with ``stop`` (trainable); a no-op if none is open."""
        if self._open is not None:
            self._append(stop, self._open, True)
            self._open = None

    def _append(self, text: str, message: int, trainable: bool) -> None:
        key = (trainable, message)
        if self._keys and self._keys[-1] == key:
            self._texts[-1] += text
        else:
            self._texts.append(text)
            self._keys.append(key)

    def build(self) -> list[Segment]:
        return [
            Segment(text, trainable, message)
            for text, (trainable, message) in zip(self._texts, self._keys, strict=True)
        ]


class TemplateBase:
    """Attributes and checks common to every built-in family.

    Subclasses set ``name``, ``stop_strings`` (end-of-turn token first), the tokens the
    upstream Jinja template reads (``bos_token``/``eos_token``, passed as
    ``apply_chat_template`` passes them), ``jinja_digests`` (normalized digests of the
    upstream templates they reproduce, for ``template: auto``) and what they support.
    """

    name: str
    stop_strings: tuple[str, ...]
    jinja_digests: ClassVar[frozenset[str]] = frozenset()
    bos_token: str | None = None
    eos_token: str | None = None
    supports_system: ClassVar[bool | None] = True
    supports_tools: ClassVar[bool | None] = False
    #: Roles must alternate user/assistant (the template raises otherwise).
    alternating: ClassVar[bool] = False
    #: For families whose answers end only where the next turn starts: the stop string
    #: appended after a final answer. The one place plugtune adds text the upstream
    #: template does not render, so that the last answer also teaches the model to stop.
    final_answer_stop: ClassVar[str | None] = None
    #: How the family writes reasoning and tool calls in a reply, to read them back
    #: (the server's ``reasoning_content`` and ``tool_calls``); None: all content.
    reply_format: ClassVar[ReplyFormat | None] = None
    #: The options a config's ``template:`` may give (a family's own extend these).
    Options: ClassVar[type[BaseModel]] = TemplateOptions
    #: The run's system prompt for conversations without one (:mod:`.default_system`).
    default_system: str | None = None

    def __init__(self, default_system: str | None = None) -> None:
        if default_system is not None and self.supports_system is False:
            raise ConfigError(
                f"template {self.name!r}: default_system: the model's template has no "
                "system role (it raises on a system message), so it has no system prompt "
                "to set; put the instruction in the user turn instead"
            )
        self.default_system = default_system

    def default_system_segments(
        self, conversation: Conversation, *, add_generation_prompt: bool = False
    ) -> list[Segment] | None:
        """The segments of ``conversation`` rendered with the run's default system
        prompt, or None when it has a system message of its own or no default is set:
        each family's ``segments`` starts with this."""
        given = with_default_system(conversation, self.default_system)
        if given is None:
            return None
        pieces = self.segments(given[0], add_generation_prompt=add_generation_prompt)
        return without_added_system(pieces) if given[1] else pieces

    def parse_reply(self, text: str) -> Reply:
        """A generated reply (the text after the generation prompt, up to the stop
        string) split into content, reasoning and tool calls."""
        return self.effective_reply_format().parse_reply(text)

    def reply_stream(self) -> ReplyStream:
        """An incremental :meth:`parse_reply` for a streamed reply."""
        return self.effective_reply_format().reply_stream()

    def effective_reply_format(self) -> ReplyFormat:
        """``reply_format``, or all content; slot families add the text their answer
        slot writes before the content (:class:`~.slots.SlotTemplate`)."""
        return self.reply_format or PLAIN

    def segments(
        self, conversation: Conversation, *, add_generation_prompt: bool = False
    ) -> list[Segment]:
        raise NotImplementedError

    def render(self, conversation: Conversation, *, add_generation_prompt: bool = False) -> str:
        pieces = self.segments(conversation, add_generation_prompt=add_generation_prompt)
        return "".join(piece.text for piece in pieces)

    def jinja(self) -> str | None:
        """The Jinja chat template that renders what this template renders (what a
        trained run's tokenizer, GGUF or Ollama model carries); None: this family cannot
        write one, and export keeps the tokenizer's own after checking it renders alike.
        Slot families write theirs from their slots (:mod:`.slots_jinja`)."""
        return None

    def new_builder(self) -> SegmentBuilder:
        return SegmentBuilder(self.stop_strings if self.final_answer_stop else ())

    def check(self, conversation: Conversation) -> None:
        """Refuse, with a message saying why, what the upstream template would refuse or
        silently drop: a misplaced system message, tools a family cannot render, …"""
        messages = conversation.messages
        for index, message in enumerate(messages):
            if message.role == "system" and index:
                self.fail(conversation, f"messages[{index}]: a system message must come first")
            if message.role == "tool" or message.tool_calls:
                self._require_tools(conversation, f"messages[{index}] ({message.role})")
        if conversation.tools:
            self._require_tools(conversation, "tools")
        if not self.supports_system and conversation.system is not None:
            self.fail(conversation, "the model's template has no system role (it raises on one)")
        if self.alternating:
            for index, message in enumerate(messages):
                if message.role != ("user" if index % 2 == 0 else "assistant"):
                    self.fail(
                        conversation,
                        f"messages[{index}]: roles must alternate user/assistant/…",
                    )

    def _require_tools(self, conversation: Conversation, where: str) -> None:
        if not self.supports_tools:
            self.fail(
                conversation,
                f"{where}: the {self.name!r} template cannot render tool specs, tool calls or "
                "tool results (its model's template drops or rejects them)",
            )

    def fail(self, conversation: Conversation, problem: str) -> NoReturn:
        origin = f"{conversation.origin}: " if conversation.origin else ""
        raise TemplateError(f"{origin}template {self.name!r}: {problem}")
