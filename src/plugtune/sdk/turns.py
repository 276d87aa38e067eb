"""The order of turns every chat template accepts, checked once for every loader and
backend: a record that breaks it is refused with the message and role named, rather than
rendered into a prompt the model never saw in training."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from plugtune.core.records import ROLES, Message, RecordError

# assistant: the conversation ends with an answer (SFT); prompt: it awaits one (a user or
# tool turn, for generation and GRPO); any: either.
FinalRole = Literal["assistant", "prompt", "any"]


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
