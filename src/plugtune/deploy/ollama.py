"""An Ollama ``Modelfile`` for an exported GGUF: the run's chat template in Ollama's Go
template syntax, its stop strings and its default system prompt.

Ollama does not run the Jinja template a GGUF carries; it renders ``TEMPLATE`` with Go's
``text/template`` over ``.Messages`` (each with ``.Role`` and ``.Content``), and puts the
Modelfile's ``SYSTEM`` in front as a system message when a chat has none. The Go template
is written from the template's declarative :class:`~plugtune.sdk.templates.Slots`, the
way :mod:`plugtune.sdk.templates.slots_jinja` writes Jinja: every literal is a Go string
literal, so no whitespace rule of Go templates can change the text.

A family whose rendering is more than its slots (tools, reasoning) is checked first: its
plain chats (system, user and assistant turns) must render exactly as its slots do, or
the Modelfile is refused with the first difference. Tool calls are not templated: Ollama
models exported here answer in text. Ollama has no ``trim``: a family that trims
message text (Llama 3) gets it untrimmed, which differs only for text with surrounding
whitespace.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from plugtune.core.errors import ConfigError, PlugtuneError
from plugtune.core.interfaces import ChatTemplate
from plugtune.core.records import Conversation, Message
from plugtune.sdk.templates import Slots, SlotTemplate

MODELFILE = "Modelfile"
#: Chats as Ollama sends them: ending with a user turn, with and without a system turn.
PROBES = (
    (Message("user", "Hi"),),
    (Message("system", "Be brief."), Message("user", "你好，世界")),
    (Message("user", "Hi"), Message("assistant", "Hello!"), Message("user", "How are you?")),
)


def go_template(slots: Slots) -> str:
    """Ollama's ``TEMPLATE`` rendering what ``slots`` render for a chat that asks for the
    next assistant turn (the last message a user's or a system's)."""
    def turn(slot: str) -> str:
        before, _, after = slot.partition("{content}")
        content = " .Content" if "{content}" in slot else ""
        return _text(before) + ("{{" + content + " }}" if content else "") + _text(after)

    opening = f"{{{{- if .Messages }}}}{_text(slots.prefix)}{{{{ end }}}}\n" if slots.prefix else ""
    return "".join([
        opening, "{{- range $i, $_ := .Messages }}\n",
        "{{- $last := eq (len (slice $.Messages $i)) 1 }}\n",
        '{{- if and (eq .Role "system") (eq $i 0) }}', turn(slots.system), "\n",
        '{{- else if eq .Role "user" }}', turn(slots.user), "\n",
        '{{- else if eq .Role "assistant" }}', _text(slots.assistant_header),
        turn(slots.assistant), _text(slots.assistant_suffix), "\n",
        "{{- end }}\n",
        '{{- if and $last (ne .Role "assistant") }}', _text(slots.generation_prompt),
        "{{ end }}\n",
        "{{- end }}",
    ])


def modelfile(template: ChatTemplate, gguf: str, *, adapter: str | None = None,
              parameters: Sequence[tuple[str, Any]] = ()) -> str:
    """The Modelfile text: ``FROM`` the GGUF (and ``ADAPTER`` a GGUF LoRA) beside it,
    the template's stop strings and ``parameters`` (Ollama's names; repeated keys kept)."""
    slots = check_slots(template)
    lines = ["# Written by plugtune export: ollama create NAME -f Modelfile",
             f"FROM ./{gguf}"]
    if adapter is not None:
        lines.append(f"ADAPTER ./{adapter}")
    lines.append(f'TEMPLATE """{_block(go_template(slots), "TEMPLATE")}"""')
    system = getattr(template, "default_system", None) or slots.default_system
    if system is not None:
        lines.append(f'SYSTEM """{_block(system, "SYSTEM")}"""')
    lines += [f"PARAMETER stop {json.dumps(stop, ensure_ascii=False)}"
              for stop in template.stop_strings]
    lines += [f"PARAMETER {key} {_value(value)}" for key, value in parameters]
    return "\n".join(lines) + "\n"


def check_slots(template: ChatTemplate) -> Slots:
    """The template's slots, once its plain chats are shown to render as they do."""
    slots = getattr(template, "slots", None)
    if not isinstance(template, SlotTemplate) or not isinstance(slots, Slots):
        raise ConfigError(
            f"--ollama: template {template.name!r} is not declared as slots, so plugtune "
            "cannot write it as Ollama's Go template; export the GGUF alone (it carries "
            "the Jinja template, which llama.cpp uses) and write the TEMPLATE by hand")
    plain = type("PlainSlots", (SlotTemplate,), {"slots": slots, "name": template.name,
                                                 "stop_strings": template.stop_strings})()
    system = getattr(template, "default_system", None) or slots.default_system
    for messages in PROBES:
        try:
            expected = template.render(Conversation(messages), add_generation_prompt=True)
        except PlugtuneError:
            continue  # a chat the family refuses (a system turn for Gemma): never trained
        if system is not None and messages[0].role != "system":  # Ollama adds SYSTEM
            messages = (Message("system", system), *messages)
        rendered = plain.render(Conversation(messages), add_generation_prompt=True)
        if rendered != expected:
            raise ConfigError(
                f"--ollama: template {template.name!r} renders a plain chat "
                f"({' / '.join(m.role for m in messages)}) as {expected!r}, but its slots "
                f"as {rendered!r}; plugtune cannot write its Go template")
    return slots


def _text(text: str) -> str:
    """``text`` as a Go template action printing a Go string literal (JSON's escapes
    are Go's too), or nothing."""
    return "{{ " + json.dumps(text, ensure_ascii=False) + " }}" if text else ""


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)


def _block(text: str, directive: str) -> str:
    if '"""' in text:
        raise ConfigError(f'--ollama: the {directive} contains """, which a Modelfile '
                          "cannot quote")
    return text
