"""The last step of every conversational format: prompt turns → the record type.

LLaMA-Factory decides what a row *is* the same way for alpaca and sharegpt: ``ranking``
makes it a preference pair, a ``kto_tag`` column a labelled completion, and otherwise
it is a conversation to imitate. That decision lives here once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plugtune.core.records import (
    Conversation,
    LabeledCompletion,
    Message,
    Preference,
    Record,
)
from plugtune.plugins.loaders.messages import Source, Turns, read_message
from plugtune.plugins.loaders.row_context import RowContext, describe, type_name
from plugtune.sdk.turns import FinalRole

_LABELS = {"true": True, "false": False}


def finish(turns: Turns, *, response: str | None = None) -> Record:
    """``turns`` hold the prompt, and the answer too unless ``response`` names the column
    that holds it (alpaca's ``output``)."""
    ctx = turns.ctx
    if ctx.options.ranking_wanted:
        chosen, rejected = read_answer(turns, "chosen"), read_answer(turns, "rejected")
        return preference(turns, chosen, rejected)
    label = read_label(ctx, "kto_tag") if ctx.enabled("kto_tag") else None
    if response is not None:
        turns.add(read_answer(turns, response), Source(ctx.key(response)))
    conversation = build_conversation(turns)
    return conversation if label is None else LabeledCompletion(conversation, label)


def build_conversation(
    turns: Turns, *, final: FinalRole = "assistant", **meta: Any
) -> Conversation:
    """The checked messages, the tool specs and every field left over as ``meta``."""
    ctx = turns.ctx
    messages = turns.check(final)
    tools = ctx.tools()
    return Conversation(messages, tools, ctx.meta(**turns.meta(), **meta), ctx.origin)


def preference(turns: Turns, chosen: Message, rejected: Message) -> Preference:
    return Preference(build_conversation(turns, final="prompt"), chosen, rejected)


def read_answer(turns: Turns, name: str) -> Message:
    """An assistant answer: a string, a message object, or a list of one message (TRL's
    conversational form)."""
    ctx, tags = turns.ctx, turns.tags
    value, field = ctx.require(name), ctx.key(name)
    if isinstance(value, str):
        message = Message("assistant", value)
    else:
        if isinstance(value, list):
            if len(value) != 1:
                raise ctx.error(field, f"must hold one answer message, got {len(value)}")
            value, field = value[0], f"{field}[0]"
        if not isinstance(value, Mapping):
            raise ctx.error(field, f"must be a string or a message, got {type_name(value)}")
        message = read_message(ctx, value, field, tags, turns.extras)
    return check_answer(turns, message, field)


def check_answer(turns: Turns, message: Message, field: str) -> Message:
    """``message`` if it is a non-empty assistant turn (an answer to train on or rank)."""
    if message.role != "assistant":
        raise turns.ctx.error(
            f"{field}.{turns.tags.role_tag}", f"must be an answer, not a {message.role} turn"
        )
    if not message.content.strip() and not message.tool_calls:
        raise turns.ctx.error(field, "empty answer")
    return message


def read_label(ctx: RowContext, name: str) -> bool:
    """A KTO label: a boolean, or ``"true"``/``"false"`` as CSV files spell it."""
    value, field = ctx.require(name), ctx.key(name)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _LABELS:
        return _LABELS[value.strip().lower()]
    raise ctx.error(field, f"must be true or false, got {describe(value)}")
