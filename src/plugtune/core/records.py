"""The canonical data model every plugin speaks: loaders make these records, templates
turn them into tokens, trainers, rewards and backends read them. Plugins exchange nothing
else, so a new loader works with every template and trainer. Frozen slotted dataclasses:
cheap to build by the hundred thousand, safe to share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from plugtune.core.errors import PlugtuneError
from plugtune.core.moved import forward

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
                {"type": "function", **({"id": call.id} if call.id else {}),
                 "function": {"name": call.name, "arguments": call.arguments}}
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

    def answered(self, answer: Message) -> Conversation:
        """This conversation with ``answer`` appended (tools, meta and origin kept)."""
        return _replace_messages(self, (*self.messages, answer))

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

    @property
    def origin(self) -> str:
        return self.prompt.origin


@dataclass(frozen=True, slots=True)
class LabeledCompletion:
    """A conversation ending in an assistant answer judged desirable or not (KTO)."""

    conversation: Conversation
    label: bool

    @property
    def origin(self) -> str:
        return self.conversation.origin


@dataclass(frozen=True, slots=True)
class Text:
    """Raw text for continued pretraining."""

    text: str
    meta: Mapping[str, Any] = field(default_factory=dict)
    origin: str = ""


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved piece of text (RAG); ``distance`` None: the retriever measures none."""

    text: str
    source: str | None = None
    distance: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "source": self.source, "distance": self.distance}


Record: TypeAlias = Conversation | Preference | LabeledCompletion | Text
# What an answer is scored against: one text, or several that are all acceptable.
Reference: TypeAlias = str | list[str]


def prompt_and_reference(record: Record) -> tuple[Conversation, Reference | None]:
    """What a model is asked for ``record`` and the answer it should give (None: none
    known); every trainer, reward and metric that needs a record's prompt asks here.

    The reference is a preference pair's chosen answer; a KTO example's answer only
    when it is desirable; for a conversation, its ``gold_answers`` (all acceptable),
    else its final assistant answer, else an ``answer`` field. Raw text has no prompt.
    """
    if isinstance(record, Preference):
        return record.prompt, record.chosen.content
    if isinstance(record, LabeledCompletion):
        prompt, answer = record.conversation.split_last_answer()
        return prompt, answer.content if answer is not None and record.label else None
    if not isinstance(record, Conversation):
        raise RecordError(record.origin, "", "raw text has no prompt to answer")
    prompt, answer = record.split_last_answer()
    if "gold_answers" in record.meta:
        return prompt, _as_reference(record.meta["gold_answers"])
    if answer is not None:
        return prompt, answer.content
    if record.meta.get("answer") is not None:
        return prompt, _as_reference(record.meta["answer"])
    return prompt, None


def _as_reference(value: Any) -> Reference:
    return [str(item) for item in value] if isinstance(value, (list, tuple)) else str(value)


def _replace_messages(conversation: Conversation, messages: Sequence[Message]) -> Conversation:
    return Conversation(tuple(messages), conversation.tools, conversation.meta, conversation.origin)


# check_messages moved to plugtune.sdk.turns (0.2.0): the old path warns until 0.3.0.
__getattr__ = forward(__name__)
