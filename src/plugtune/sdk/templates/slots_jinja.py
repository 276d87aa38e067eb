"""A slot template written out as the Jinja chat template that renders the same text.

What a run trained with is what it must be served with: a tokenizer, a GGUF file or an
Ollama model carries a Jinja chat template, and a template plugin declared as
:class:`~plugtune.sdk.templates.slots.Slots` has none of its own. This writes one from
the slots, so the text a server renders is the text the run trained on; tests (and
:func:`plugtune.sdk.testing.check_jinja_parity`) render both on a corpus and compare.

A family that overrides how a message renders (a ``render_*`` method, ``answer``,
``generation_prompt``) has logic slots cannot express: it gets ``None`` here and must
write its own ``jinja()`` (or export keeps the tokenizer's, checked by rendering).
Literal text is written as Jinja string literals, so no whitespace control or escaping
of the slot text is ever needed.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from plugtune.sdk.templates.slots import Slots, SlotTemplate

# The methods whose overrides make a family more than its slots.
RENDERING_METHODS = ("segments", "render_system", "render_user", "render_assistant",
                     "render_tool", "answer", "generation_prompt", "content")


def slots_jinja(template: SlotTemplate, base: type[SlotTemplate]) -> str | None:
    """The Jinja source rendering exactly what ``template`` renders, or None when its
    family overrides how messages render (any rendering method of ``base``)."""
    family = type(template)
    if any(getattr(family, name) is not getattr(base, name) for name in RENDERING_METHODS):
        return None
    slots = template.slots
    lines = [_guards(template), _opening(slots), _turns(slots)]
    stop = template.final_answer_stop
    if stop:  # the stop plugtune adds after a final answer (see TemplateBase)
        lines.append("{%- if messages and messages[-1].role == 'assistant' -%}"
                     f"{{{{ {_literal(stop)} }}}}{{%- endif -%}}")
    lines.append("{%- if add_generation_prompt -%}"
                 f"{_text(slots.generation_prompt)}{{%- else -%}}{_text(slots.closing)}"
                 "{%- endif -%}")
    return "\n".join(line for line in lines if line) + "\n"


def _guards(template: SlotTemplate) -> str:
    """What the family refuses, as ``raise_exception`` (as upstream templates do)."""
    guards = []
    if not template.supports_system:
        guards.append("{%- if messages and messages[0].role == 'system' -%}"
                      "{{ raise_exception('This model has no system role') }}{%- endif -%}")
    if template.alternating:
        guards.append("{%- for message in messages -%}"
                      "{%- if (message.role == 'user') != (loop.index0 % 2 == 0) -%}"
                      "{{ raise_exception('Roles must alternate user/assistant/...') }}"
                      "{%- endif -%}{%- endfor -%}")
    return "\n".join(guards)


def _opening(slots: Slots) -> str:
    """The prefix (when there are messages) and the system turn, or the default one."""
    first = "messages[0].content" + ("|trim" if "system" in slots.trim else "")
    opening = f"{{%- if messages -%}}{_text(slots.prefix)}{{%- endif -%}}\n"
    opening += "{%- if messages and messages[0].role == 'system' -%}"
    opening += _filled(slots.system, first)
    if slots.default_system is not None:
        opening += "{%- else -%}" + _text(slots.system.replace("{content}",
                                                               slots.default_system, 1))
    return opening + "{%- endif -%}"


def _turns(slots: Slots) -> str:
    def content(role: str) -> str:
        return "message.content" + ("|trim" if role in slots.trim else "")

    return (
        "{%- for message in messages -%}"
        "{%- if message.role == 'user' -%}" + _filled(slots.user, content("user"))
        + "{%- elif message.role == 'assistant' -%}" + _text(slots.assistant_header)
        + _filled(slots.assistant, content("assistant")) + _text(slots.assistant_suffix)
        + "{%- endif -%}{%- endfor -%}"
    )


def _filled(slot: str, expression: str) -> str:
    """``slot`` with ``{content}`` as the Jinja ``expression`` (a slot without one
    writes its text alone, as :func:`~plugtune.sdk.templates.slots.fill` does)."""
    if "{content}" not in slot:
        return _text(slot)
    before, after = slot.split("{content}", 1)
    parts = [_literal(before)] if before else []
    parts.append(expression)
    if after:
        parts.append(_literal(after))
    return "{{ " + " + ".join(parts) + " }}"


def _text(text: str) -> str:
    return f"{{{{ {_literal(text)} }}}}" if text else ""


def _literal(text: str) -> str:
    """A Jinja string literal of ``text`` (JSON's escapes are Jinja's too)."""
    return json.dumps(text, ensure_ascii=False)
