"""A run's default system prompt: the ``default_system`` option every template takes.

LLaMA-Factory's ``default_system`` replaces the template's default system message
(``system = system or self.default_system`` in its ``Template._encode``): a conversation
without a system message, or with an empty one, is rendered as if it had one with that
text (a template with a default of its own, Qwen2.5's "You are Qwen, …", no longer writes
it); a conversation with its own system message keeps it. That is what this does, for
every family the same way: the conversation gets the system message, is rendered by the
family's own code (tools, headers and all), and an added message's pieces are then
attributed to no message, so loss masks and ``train_on: last`` see the conversation as
it was. Training, ``predict`` and ``serve`` all render through the template, so all
three write the same prompt.

:func:`default_system_jinja` writes the same rule in front of a Jinja chat template, so
an exported model is prompted as the run trained.
"""

from __future__ import annotations

import json
from dataclasses import replace

from pydantic import BaseModel, ConfigDict, Field

from plugtune.core.interfaces import Segment
from plugtune.core.records import Conversation, Message


class TemplateOptions(BaseModel):
    """What every built-in template takes (a family's own options add to these)."""

    model_config = ConfigDict(extra="forbid")

    default_system: str | None = Field(
        None, description="System prompt for conversations without one, in place of the "
        "template's own default (LLaMA-Factory's default_system); None: the template's.")


def with_default_system(conversation: Conversation, text: str | None
                        ) -> tuple[Conversation, bool] | None:
    """``conversation`` with ``text`` as its system message, and whether that message was
    added (True) or filled in an empty one (False); None when there is no ``text`` or the
    conversation has a system message of its own (which wins)."""
    if text is None or conversation.system:
        return None
    system = Message("system", text)
    if conversation.system is None:
        return replace(conversation, messages=(system, *conversation.messages)), True
    return replace(conversation, messages=(system, *conversation.messages[1:])), False


def without_added_system(segments: list[Segment]) -> list[Segment]:
    """Segments of a conversation rendered with an added first message, indexed as the
    conversation without it: that message's pieces belong to no message (-1)."""
    return [
        Segment(piece.text, piece.trainable, piece.message - 1 if piece.message > 0 else -1)
        for piece in segments
    ]


def default_system_jinja(text: str) -> str:
    """Jinja to put in front of a chat template: ``messages`` without a system message
    first (or with an empty one) get one with ``text``."""
    system = "{'role': 'system', 'content': " + json.dumps(text, ensure_ascii=False) + "}"
    return (  # a JSON string literal is a Jinja one too
        "{%- if not messages or messages[0].role != 'system' -%}"
        f"{{%- set messages = [{system}] + messages -%}}"
        "{%- elif not messages[0].content -%}"
        f"{{%- set messages = [{system}] + messages[1:] -%}}"
        "{%- endif -%}"
    )
