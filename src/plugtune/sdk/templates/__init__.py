"""Building blocks of chat templates: declarative slots, segments with their loss mask,
the Jinja environment ``apply_chat_template`` uses, template recognition, reading replies
back (reasoning, tool calls), per-request template options and the run's default system
prompt (``default_system``, an option of every template)."""

from __future__ import annotations

from plugtune.sdk.templates.default_system import TemplateOptions, default_system_jinja
from plugtune.sdk.templates.family import SegmentBuilder, TemplateBase, TemplateError
from plugtune.sdk.templates.jinja import render_chat_template, template_messages
from plugtune.sdk.templates.matching import digest_chat_template, match_chat_template
from plugtune.sdk.templates.options import TemplateOptionsError, with_template_options
from plugtune.sdk.templates.replies import (
    THINK,
    ParsesReplies,
    Reply,
    ReplyDelta,
    ReplyFormat,
    ReplyStream,
    ThinkBlock,
)
from plugtune.sdk.templates.slots import CHATML_SLOTS, Slots, SlotTemplate, fill
from plugtune.sdk.templates.tool_calls import GLM4Calls, JsonCalls, TaggedCalls, WholeReplyCalls

__all__ = [
    "CHATML_SLOTS",
    "THINK",
    "GLM4Calls",
    "JsonCalls",
    "ParsesReplies",
    "Reply",
    "ReplyDelta",
    "ReplyFormat",
    "ReplyStream",
    "SegmentBuilder",
    "SlotTemplate",
    "Slots",
    "TaggedCalls",
    "TemplateBase",
    "TemplateError",
    "TemplateOptions",
    "TemplateOptionsError",
    "ThinkBlock",
    "WholeReplyCalls",
    "default_system_jinja",
    "digest_chat_template",
    "fill",
    "match_chat_template",
    "render_chat_template",
    "template_messages",
    "with_template_options",
]
