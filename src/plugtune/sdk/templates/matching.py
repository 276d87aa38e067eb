"""Recognising a tokenizer's chat template, for ``template: auto``.

A tokenizer's ``chat_template`` is matched to a registered template by digest: each
template class lists the normalized digests of the upstream Jinja strings it reproduces
(``jinja_digests``). Normalization is conservative: it undoes only the edits that tools
make to a template without changing what it renders, so that a match means "the
upstream template", not "something that looks like it":

- ``{% generation %}`` / ``{% endgeneration %}`` markers, which TRL and
  ``return_assistant_tokens_mask`` add around answers and which render nothing: a
  marker alone on its line goes with its line, an inline one alone;
- Windows line endings (Jinja reads them as ``\n``) and one final newline (Jinja drops
  it), so a copy that lost the template's last newline still matches.

Anything else (indentation, an escaped ``\n`` written as a real newline, a rewritten
branch) changes the digest: ``auto`` then falls back to ``hf``, slower but always right.
:func:`renders_alike` double-checks a match by rendering sample conversations.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

from plugtune.core.records import Conversation, Message
from plugtune.sdk.templates.jinja import render_chat_template, template_messages

_MARKER = r"\{%-?\s*(?:end)?generation\s*-?%\}"
_MARKER_LINE = re.compile(r"^[ \t]*" + _MARKER + r"[ \t]*\n", re.MULTILINE)
_MARKER_INLINE = re.compile(_MARKER)


def normalize_chat_template(text: str) -> str:
    """``text`` without generation markers, CRLF line ends or a final newline."""
    text = text.replace("\r\n", "\n")
    text = _MARKER_INLINE.sub("", _MARKER_LINE.sub("", text))
    return text[:-1] if text.endswith("\n") else text


def digest_chat_template(text: str) -> str:
    """The sha256 hex digest of the normalized template: what ``jinja_digests`` holds."""
    return hashlib.sha256(normalize_chat_template(text).encode("utf-8")).hexdigest()


def match_chat_template(text: str, templates: Iterable[tuple[str, Any]]) -> str | None:
    """The name of the first ``(name, template class or object)`` whose ``jinja_digests``
    contain this template's digest, or ``None`` (then use ``hf``)."""
    digest = digest_chat_template(text)
    for name, template in templates:
        if digest in getattr(template, "jinja_digests", ()):
            return name
    return None


_PROBES = (
    (Message("user", "Hi"), Message("assistant", "Hello!"), Message("user", "你好")),
    (Message("system", "Be brief."), Message("user", "Hi")),
)


def renders_alike(template: Any, chat_template: str, **special_tokens: str) -> bool:
    """Whether ``template`` renders a few probe prompts exactly as ``chat_template`` does
    with these ``special_tokens`` (``bos_token=…``, ``eos_token=…``): a cheap safety net
    under a digest match, and a way to vet a match for a template with no known digest."""
    for messages in _PROBES:
        if messages[0].role == "system" and getattr(template, "supports_system", True) is False:
            continue
        conversation = Conversation(messages)
        for prompt in (False, True):
            try:
                expected = render_chat_template(
                    chat_template,
                    template_messages(conversation),
                    add_generation_prompt=prompt,
                    **special_tokens,
                )
            except Exception:  # a template that rejects the probe cannot be vouched for
                return False
            if template.render(conversation, add_generation_prompt=prompt) != expected:
                return False
    return True
