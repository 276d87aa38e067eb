"""``hf``: whatever Jinja chat template a tokenizer carries, rendered as transformers does.

The fallback for models without a built-in family, and what ``template: auto`` uses when
a tokenizer's template matches none. Its rendering is transformers' by construction; its
loss mask comes from incremental rendering (:mod:`.incremental`), which needs the
end-of-turn token: given as ``stop_strings``, or found by rendering a probe answer and
taking the special token (or the eos) the template writes right after it.

A foreign config that names a format plugtune has no family for (LLaMA-Factory's
``template: zephyr``) is read as ``hf`` with ``renders_as``: that format as slot
strings. Built with the run's tokenizer, the template renders the probe chats of
:mod:`~plugtune.sdk.templates.format_check` beside it and refuses to start on the first
difference, so a run never trains another format than the one the config named.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Mapping
from typing import Any

from pydantic import Field, field_validator, model_validator

from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import Segment
from plugtune.core.records import Conversation
from plugtune.plugins.templates.hf_source import TemplateSource, read_template_source
from plugtune.plugins.templates.incremental import NotPrefixStable, incremental_segments
from plugtune.sdk.templates.default_system import TemplateOptions, default_system_jinja
from plugtune.sdk.templates.family import TemplateBase
from plugtune.sdk.templates.format_check import ChatFormat, format_mismatch
from plugtune.sdk.templates.jinja import render_chat_template, template_messages

log = logging.getLogger(__name__)

#: transformers' historical default, used when neither a template nor a source is given.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
_PROBE = "PLUGTUNE-PROBE-ANSWER"
_TOKEN_LIKE = re.compile(r"<[^<>\s]{1,40}>|\[[^\[\]\s]{1,40}\]")


class HFOptions(TemplateOptions):
    """Options of the ``hf`` template: a template (``chat_template`` or ``source``), the
    special tokens it reads, and, if they cannot be found, its stop strings."""

    chat_template: str | None = None
    source: str | None = None  # a model/tokenizer folder, a .jinja file, or tiny://…
    bos_token: str | None = None
    eos_token: str | None = None
    stop_strings: tuple[str, ...] | None = None  # end-of-turn token first
    template_kwargs: dict[str, Any] = Field(default_factory=dict)  # e.g. enable_thinking
    # A plain mapping, not a nested model: the web UI's form skips it (a converted
    # config writes it; nobody types slot strings into a form).
    renders_as: dict[str, Any] | None = Field(
        None, description="A format (plugtune.sdk.templates.format_check.ChatFormat) the "
        "template must render on probe chats, checked when it is built for a run")

    @field_validator("renders_as")
    @classmethod
    def _a_format(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else ChatFormat.model_validate(value).model_dump()

    @model_validator(mode="after")
    def _one_template(self) -> HFOptions:
        if self.chat_template is not None and self.source is not None:
            raise ValueError("give chat_template or source, not both")
        return self


class HFTemplate(TemplateBase):
    """Any Jinja chat template (the tokenizer's own), masked by incremental rendering."""

    name = "hf"
    # What it supports is up to the template it renders; None tells check_chat_template
    # to try (a template that raises on a system message or tools has no such support).
    supports_system = None
    supports_tools = None
    Options = HFOptions

    def __init__(
        self,
        chat_template: str | None = None,
        source: str | None = None,
        bos_token: str | None = None,
        eos_token: str | None = None,
        stop_strings: tuple[str, ...] | None = None,
        template_kwargs: dict[str, Any] | None = None,
        default_system: str | None = None,
        renders_as: Mapping[str, Any] | ChatFormat | None = None,
    ) -> None:
        super().__init__(default_system)
        found = read_template_source(source) if source else TemplateSource(chat_template or "")
        if not found.chat_template:
            found = TemplateSource(CHATML_TEMPLATE, eos_token="<|im_end|>")
        self.chat_template = found.chat_template
        self.bos_token = bos_token if bos_token is not None else found.bos_token
        self.eos_token = eos_token if eos_token is not None else found.eos_token
        # As apply_chat_template: a token the tokenizer lacks is left undefined.
        tokens = {"bos_token": self.bos_token, "eos_token": self.eos_token}
        self.variables = {key: value for key, value in tokens.items() if value is not None}
        self.variables.update(template_kwargs or {})
        self.stop_strings = tuple(stop_strings or self._find_stop_strings(found.special_tokens))
        self.template_kwargs = dict(template_kwargs or {})
        if renders_as is not None:
            self.check_renders_as(ChatFormat.model_validate(renders_as))

    def check_renders_as(self, expected: ChatFormat) -> None:
        """Refuse to start when this template renders the probe chats otherwise than
        ``expected`` does (with this template's bos/eos and default system prompt)."""
        mismatch = format_mismatch(
            expected,
            lambda chat, prompt: self.render(chat, add_generation_prompt=prompt),
            bos=self.bos_token, eos=self.eos_token,
        )
        if mismatch is not None:
            raise ConfigError(
                f"template 'hf': the model's chat template does not write what "
                f"{expected.origin} writes, so this run would train another format: "
                f"{mismatch}. Name a plugtune template that renders it (plugtune plugins "
                "list --kind templates), or leave the template out to train with the "
                "model's own format"
            )
        log.info("template 'hf' renders as %s on every probe chat", expected.origin)

    def with_options(self, options: Mapping[str, Any]) -> HFTemplate:
        """A copy rendering with more Jinja variables: a request's
        ``chat_template_kwargs`` are whatever its template reads (as vLLM passes them),
        so any name is taken (:func:`plugtune.sdk.templates.options.with_template_options`)."""
        configured = copy.copy(self)
        configured.template_kwargs = {**self.template_kwargs, **options}
        configured.variables = {**self.variables, **options}
        return configured

    def jinja(self) -> str | None:
        """The Jinja it renders, unless rendering also depends on ``template_kwargs``
        (which a served template would not be given)."""
        if self.template_kwargs:
            return None
        if self.default_system is None:
            return self.chat_template
        return default_system_jinja(self.default_system) + self.chat_template

    def segments(
        self, conversation: Conversation, *, add_generation_prompt: bool = False
    ) -> list[Segment]:
        given = self.default_system_segments(conversation,
                                             add_generation_prompt=add_generation_prompt)
        if given is not None:
            return given
        tools = [dict(tool) for tool in conversation.tools] or None

        def render(messages: list[dict[str, Any]], generation_prompt: bool) -> str:
            return self._render(conversation, messages, tools, generation_prompt)

        try:
            return incremental_segments(
                render,
                template_messages(conversation),
                add_generation_prompt=add_generation_prompt,
                stop_strings=self.stop_strings,
            )
        except NotPrefixStable as error:
            self.fail(conversation, f"the chat template is not prefix-stable: {error}")

    def _render(
        self,
        conversation: Conversation,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        add_generation_prompt: bool,
    ) -> str:
        try:
            return render_chat_template(
                self.chat_template,
                messages,
                tools=tools,
                add_generation_prompt=add_generation_prompt,
                **self.variables,
            )
        except Exception as error:  # a template is code: whatever it raises, say where
            self.fail(conversation, f"the chat template failed: {type(error).__name__}: {error}")

    def _find_stop_strings(self, special_tokens: tuple[str, ...]) -> list[str]:
        """The end-of-turn token (the one written right after an answer), then the eos."""
        stops = []
        try:
            text = render_chat_template(
                self.chat_template,
                [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": _PROBE}],
                **self.variables,
            )
        except Exception:  # a template that rejects the probe: rely on the eos
            text = ""
        after = text.partition(_PROBE)[2]
        known = [token for token in (*special_tokens, self.eos_token) if token]
        matching = [token for token in known if after.startswith(token)]
        if matching:
            stops.append(max(matching, key=len))
        elif match := _TOKEN_LIKE.match(after):
            stops.append(match.group())
        if self.eos_token:
            stops.append(self.eos_token)
        return list(dict.fromkeys(stops))
