"""Choose the chat template of a run: the configured one, or ``auto``.

``auto`` (or no ``template:`` at all) recognises the tokenizer's own Jinja template
among the registered families by digest and uses that plugin (fast, exact); a template
it does not recognise is rendered as-is by ``hf``. ``hf`` without a template of its own
takes the tokenizer's.
"""

from __future__ import annotations

import logging
from typing import Any

from plugtune.core.config import AUTO_TEMPLATE, ComponentRef, RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import ChatTemplate
from plugtune.core.session import Session

log = logging.getLogger(__name__)

HF = "hf"


def resolve_template(
    session: Session, ref: ComponentRef | str | None, tokenizer: Any
) -> ChatTemplate:
    """The template plugin for ``ref``, matched to ``tokenizer`` when ``ref`` is auto."""
    ref = ComponentRef.model_validate(ref if ref is not None else AUTO_TEMPLATE)
    if ref.name == AUTO_TEMPLATE:
        if ref.options:
            raise ConfigError("template: auto takes no options; name the template instead")
        return _auto(session, tokenizer)
    if ref.name == HF and not {"chat_template", "source"} & set(ref.options):
        own = _tokenizer_template(tokenizer)
        return session.build("templates", {**own, **ref.options, "name": HF})
    return session.build("templates", ref)


def tokenizer_and_template(config: RunConfig, session: Session) -> tuple[Any, ChatTemplate]:
    """The run's tokenizer (``model``) and its chat template (``template``)."""
    from plugtune.data.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(config.model)
    return tokenizer, resolve_template(session, config.template, tokenizer)


def _auto(session: Session, tokenizer: Any) -> ChatTemplate:
    """The family whose digest matches the tokenizer's template, once it also renders the
    probe conversations alike with this tokenizer's special tokens; else ``hf``."""
    from plugtune.sdk.templates.matching import match_chat_template, renders_alike

    own = _tokenizer_template(tokenizer)
    candidates = [(c.name, c.load()) for c in session.registry("templates") if c.name != HF]
    name = match_chat_template(own["chat_template"], candidates)
    if name is not None:
        template = session.build("templates", name)
        tokens = {key: value for key in ("bos_token", "eos_token")
                  if (value := own[key]) is not None}
        if renders_alike(template, own["chat_template"], **tokens):
            log.info("template: auto picked %r (the tokenizer's chat template)", name)
            return template
        log.info("template: %r matches the tokenizer's template but not its special "
                 "tokens; rendering the tokenizer's own with hf", name)
    else:
        log.info("template: auto found no registered family; rendering the tokenizer's own "
                 "with hf")
    return session.build("templates", {"name": HF, **own})


def _tokenizer_template(tokenizer: Any) -> dict[str, Any]:
    chat_template = getattr(tokenizer, "chat_template", None)
    if not isinstance(chat_template, str) or not chat_template:
        raise ConfigError(
            "template: the tokenizer has no chat_template; name one (plugtune plugins list "
            "--kind templates), e.g. template: qwen"
        )
    return {
        "chat_template": chat_template,
        "bos_token": tokenizer.bos_token,
        "eos_token": tokenizer.eos_token,
    }


def stop_token_ids(template: ChatTemplate, tokenizer: Any) -> list[int]:
    """Ids of the template's stop strings that are single tokens of this tokenizer, plus
    its eos: what a backend passes as ``eos_token_id`` so generation ends with the turn.
    Multi-token stop strings stay stop *strings* (backends match them on the text)."""
    ids: list[int] = []
    for stop in template.stop_strings:
        encoded = tokenizer.encode(stop, add_special_tokens=False)
        if len(encoded) == 1 and encoded[0] not in ids:
            ids.append(encoded[0])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids
