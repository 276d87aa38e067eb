"""Rendering a Jinja chat template exactly as ``tokenizer.apply_chat_template`` does.

transformers renders chat templates in an ``ImmutableSandboxedEnvironment`` with
``trim_blocks``, ``lstrip_blocks`` and the ``loopcontrols`` extension, a ``tojson`` that
keeps non-ASCII characters, ``raise_exception`` and ``strftime_now``, and passes
``messages``, ``tools``, ``documents`` and ``add_generation_prompt`` plus the special
tokens. This module rebuilds that environment (the test suite checks it against
transformers' own renderer) so the ``hf`` template needs jinja2 only, imported lazily.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from plugtune.core.records import Conversation

if TYPE_CHECKING:
    import jinja2


def template_messages(conversation: Conversation) -> list[dict[str, Any]]:
    """The messages as ``apply_chat_template`` receives them (OpenAI's shape).

    Two additions to :meth:`Message.to_openai`, both what transformers or the OpenAI
    format carry: the reasoning is also given as ``thinking`` (transformers aliases it
    for templates that read that name), and a tool result gets the ``tool_call_id`` of
    the call it answers (results pair with the preceding calls in order) when that call
    has an id, since templates such as Mistral's read it.
    """
    messages = []
    pending_ids: list[str | None] = []
    for message in conversation.messages:
        data = message.to_openai()
        if message.reasoning is not None:
            data = {"thinking": message.reasoning, **data}
        if message.tool_calls:
            pending_ids = [call.id for call in message.tool_calls]
        elif message.role == "tool" and pending_ids:
            call_id = pending_ids.pop(0)
            if call_id is not None:
                data["tool_call_id"] = call_id
        messages.append(data)
    return messages


def render_chat_template(
    chat_template: str,
    messages: list[dict[str, Any]],
    *,
    tools: list[dict[str, Any]] | None = None,
    add_generation_prompt: bool = False,
    **variables: Any,
) -> str:
    """``chat_template`` rendered with the variables ``apply_chat_template`` passes."""
    return compile_chat_template(chat_template).render(
        messages=messages,
        tools=tools,
        documents=None,
        add_generation_prompt=add_generation_prompt,
        **variables,
    )


@lru_cache(maxsize=32)
def compile_chat_template(chat_template: str) -> jinja2.Template:
    return _environment().from_string(chat_template)


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    import jinja2
    from jinja2.ext import Extension, loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class GenerationTag(Extension):
        """``{% generation %}…{% endgeneration %}``: renders its body unchanged."""

        tags = frozenset({"generation"})

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(
                lineno
            )

        def _body(self, caller: Any) -> str:
            return caller()

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(
        value: Any,
        ensure_ascii: bool = False,
        indent: int | None = None,
        separators: Any = None,
        sort_keys: bool = False,
    ) -> str:
        return json.dumps(
            value,
            ensure_ascii=ensure_ascii,
            indent=indent,
            separators=separators,
            sort_keys=sort_keys,
        )

    def strftime_now(format: str) -> str:
        return datetime.now().strftime(format)

    environment = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTag, loopcontrols]
    )
    environment.filters["tojson"] = tojson
    environment.globals["raise_exception"] = raise_exception
    environment.globals["strftime_now"] = strftime_now
    return environment
