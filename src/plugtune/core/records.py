"""The canonical data model every plugin speaks.

Loaders turn files into these records; templates turn them into tokens; trainers,
rewards and backends read them. Plugins never exchange anything else, so a new loader
works with every template and trainer. Records are frozen slotted dataclasses: cheap
to build by the hundred thousand and safe to share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from plugtune.core.errors import PlugtuneError

ROLES = ("system", "user", "assistant", "tool")


class RecordError(PlugtuneError, ValueError):
    """A record that cannot be used, located by file, record and field."""

    def __init__(self, origin: str, field: str, problem: str) -> None:
        super().__init__(f"{origin}: {field}: {problem}" if field else f"{origin}: {problem}")
        self.origin, self.field, self.problem = origin, field, problem


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call made by the assistant; ``arguments`` as the source gave them."""

    name: str
    arguments: Any = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    role: str
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    reasoning: str | None = None  # the <think> part, for templates that render it
    name: str | None = None  # the tool's name on a tool result

    def to_openai(self) -> dict[str, Any]:
        """The message as chat templates (and OpenAI-style APIs) expect it."""
        message: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "type": "function",
                    **({"id": call.id} if call.id else {}),
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in self.tool_calls
            ]
        if self.reasoning is not None:
            message["reasoning_content"] = self.reasoning
        if self.name is not None:
            message["name"] = self.name
        return message


@dataclass(frozen=True, slots=True)
class Conversation:
    """Messages (system first, if any), tool specs, and the record's other columns.

    ``meta`` keeps every other field of the source record (``answer``,
    ``gold_answers``, ``images``, …): rewards and metrics receive them by name.
    ``origin`` says where the record came from (``data.jsonl:12``) for error messages.
    """

    messages: tuple[Message, ...]
    tools: tuple[Mapping[str, Any], ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    origin: str = ""

    @property
    def system(self) -> str | None:
        first = self.messages[0] if self.messages else None
        return first.content if first is not None and first.role == "system" else None

    def to_openai(self) -> list[dict[str, Any]]:
        return [message.to_openai() for message in self.messages]

    def split_last_answer(self) -> tuple[Conversation, Message | None]:
        """The conversation before the final assistant message, and that message."""
        if self.messages and self.messages[-1].role == "assistant":
            return _replace_messages(self, self.messages[:-1]), self.messages[-1]
        return self, None


@dataclass(frozen=True, slots=True)
class Preference:
    """A prompt with a preferred and a dispreferred answer (DPO, reward models)."""

    prompt: Conversation
    chosen: Message
    rejected: Message


@dataclass(frozen=True, slots=True)
class LabeledCompletion:
    """A conversation ending in an assistant answer judged desirable or not (KTO)."""

    conversation: Conversation
    label: bool


@dataclass(frozen=True, slots=True)
class Text:
    """Raw text for continued pretraining."""

    text: str
    meta: Mapping[str, Any] = field(default_factory=dict)
    origin: str = ""


Record: TypeAlias = Conversation | Preference | LabeledCompletion | Text
FinalRole = Literal["assistant", "prompt", "any"]


def _replace_messages(conversation: Conversation, messages: Sequence[Message]) -> Conversation:
    return Conversation(tuple(messages), conversation.tools, conversation.meta, conversation.origin)


def check_messages(
    messages: Sequence[Message], *, origin: str, field: str = "messages", final: FinalRole = "any"
) -> None:
    """Raise :class:`RecordError` unless the turns are in an order every template accepts.

    A system message may only come first; then a user turn; each user turn is answered
    by the assistant; tool results follow an assistant turn (usually one with
    ``tool_calls``; datasets such as glaive's translated demo phrase the call in prose). ``final``
    requires the conversation to end with an answer (``assistant``: SFT) or to await one
    (``prompt``: a user or tool turn, for generation and GRPO).
    """
    if not messages:
        raise RecordError(origin, field, "no messages")
    previous = None
    for index, message in enumerate(messages):
        where = f"{field}[{index}]"
        role = message.role
        if role not in ROLES:
            raise RecordError(origin, f"{where}.role", f"unknown role {role!r}")
        if not isinstance(message.content, str):
            raise RecordError(origin, f"{where}.content", "must be a string")
        if not message.content.strip() and role != "system" and not message.tool_calls:
            raise RecordError(origin, f"{where}.content", f"empty {role} turn")
        expected = _allowed_after(previous)
        if role not in expected:
            after = f"after {previous.role!r}" if previous else "first"
            wanted = " or ".join(expected)
            raise RecordError(
                origin, f"{where}.role", f"{role!r} cannot come {after} (expected {wanted})"
            )
        previous = message
    last = messages[-1].role
    if final == "assistant" and last != "assistant":
        raise RecordError(origin, field, f"must end with an assistant answer, ends with {last!r}")
    if final == "prompt" and last not in ("user", "tool"):
        raise RecordError(origin, field, f"must end with a user or tool turn, ends with {last!r}")


def _allowed_after(previous: Message | None) -> tuple[str, ...]:
    if previous is None:
        return ("system", "user")
    if previous.role == "system":
        return ("user",)
    if previous.role == "user":
        return ("assistant",)
    if previous.role == "assistant":
        return ("user", "tool")
    return ("tool", "assistant")  # after a tool result: more results, or the answer
