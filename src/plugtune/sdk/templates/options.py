"""A template configured for one request: OpenAI clients send ``chat_template_kwargs``
(``{"enable_thinking": false}`` for Qwen3), which are the template's own options.

Why a copy: the served template is shared by every request, so a request's options
build a new template (rendering its prompt and parsing its reply) and leave the
served one as configured. The options are checked against the template class's
``Options`` model, the one the registry validates a config's template options with,
so a request can set exactly what a config can.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from plugtune.core.errors import ConfigError
from plugtune.core.validation import did_you_mean, validate_model


class TemplateOptionsError(ConfigError, ValueError):
    """Request options the template does not take, or values it refuses."""


def with_template_options(template: Any, options: Mapping[str, Any]) -> Any:
    """``template`` built again with ``options`` over its current ones (no options: the
    template itself). A template may take options its own way with a
    ``with_options(options)`` method (``hf``: any Jinja variable); otherwise its class's
    pydantic ``Options`` model validates them, and each of the template's current
    settings is kept unless the request changes it.

    Raises :class:`TemplateOptionsError` (a ``ValueError``) naming an unknown option and
    the options the template takes, or a value that does not validate.
    """
    if not options:
        return template
    configure = getattr(template, "with_options", None)
    if callable(configure):
        return configure(dict(options))
    where = f"template {getattr(template, 'name', type(template).__name__)!r}"
    declared = getattr(type(template), "Options", None)
    if not (inspect.isclass(declared) and issubclass(declared, BaseModel)):
        raise TemplateOptionsError(f"{where} takes no options, got: {', '.join(options)}")
    known = [field.alias or name for name, field in declared.model_fields.items()]
    for key in options:
        if key not in known and key not in declared.model_fields:
            raise TemplateOptionsError(
                f"{where} takes no option {key!r}{did_you_mean(key, known)}; "
                f"it takes: {', '.join(known)}")
    current = {name: getattr(template, name) for name in declared.model_fields
               if hasattr(template, name) and name not in options}
    try:
        validated = validate_model(declared, {**current, **options}, where=where)
    except ConfigError as error:
        raise TemplateOptionsError(str(error)) from None
    return type(template)(**dict(validated))
