"""Building blocks of chat templates: declarative slots, segments with their loss mask,
the Jinja environment ``apply_chat_template`` uses, and template recognition."""

from __future__ import annotations

from plugtune.sdk.templates.family import SegmentBuilder, TemplateBase, TemplateError
from plugtune.sdk.templates.jinja import render_chat_template, template_messages
from plugtune.sdk.templates.matching import digest_chat_template, match_chat_template
from plugtune.sdk.templates.slots import CHATML_SLOTS, Slots, SlotTemplate, fill

__all__ = [
    "CHATML_SLOTS",
    "SegmentBuilder",
    "SlotTemplate",
    "Slots",
    "TemplateBase",
    "TemplateError",
    "digest_chat_template",
    "fill",
    "match_chat_template",
    "render_chat_template",
    "template_messages",
]
