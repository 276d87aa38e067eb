"""What the configure page is built from, and what it sends back checked.

The form is never hand-listed: sections and their defaults come from the run config's
JSON schema, and each component field (trainer, template, peft, …) lists what the
session's registries hold, third-party plugins included, with each one's options
schema. A submitted form is validated by the config layer itself, and its messages are
returned keyed by the dotted field they name, so the page shows them beside the field.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

from plugtune.core.config import RunConfig, config_schema, run_config
from plugtune.core.errors import ConfigError, UnknownComponentError
from plugtune.core.session import Session
from plugtune.sdk.configs import load_config

# The component kinds a run config names, in the order the page shows them.
FORM_KINDS = ("trainers", "templates", "peft", "loaders", "backends", "metrics", "callbacks",
              "retrievers", "exporters")
# "  training.learning_rate: Input should be greater than 0" (core.validation's lines),
# or "trainer: trainers 'x' is not registered …" (Session.validate's prefix).
_LOCATED = re.compile(r"^\s*([A-Za-z_][\w.\[\]]*): (.+)$")


def form_spec(session: Session) -> dict[str, Any]:
    """The schema, the defaults and every registered component with its options."""
    components = {
        kind: [{"name": c.name, "doc": c.doc, "origin": c.plugin.origin,
                "options": _options_schema(c.options_model)}
               for c in session.registry(kind)]
        for kind in FORM_KINDS
    }
    return {"schema": config_schema(), "defaults": RunConfig().model_dump(mode="json"),
            "components": components}


def _options_schema(model: type | None) -> dict[str, Any] | None:
    return model.model_json_schema() if model is not None else None  # type: ignore[attr-defined]


def check_config(data: dict[str, Any], session: Session) -> dict[str, Any]:
    """``{"ok", "yaml", "errors"}``: the YAML the form builds, and the config layer's
    messages by field (``""`` for one that names no field). Nothing is imported or run:
    component names are looked up in the registry, code references are refused."""
    errors: dict[str, str] = {}
    try:
        config = run_config(data, (), "form")
        refuse_code_references(config)
        session.validate(config)
    except (ConfigError, UnknownComponentError) as error:
        errors = located_errors(str(error))
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return {"ok": not errors, "yaml": text, "errors": errors}


def refuse_code_references(config: RunConfig) -> None:
    """A form may name registered plugins only: ``file.py:obj`` or ``module:obj`` would
    make the server import and run code a browser sent."""
    for key, _kind, ref in config.component_refs():
        if ":" in ref.name or ref.name.endswith(".py"):
            raise ConfigError(f"{key}: {ref.name!r} is code; the web UI runs registered "
                              "plugins only (name one from the list)")
    if config.plugins.paths:
        raise ConfigError("plugins.paths: the web UI loads no local plugin code")


def located_errors(message: str) -> dict[str, str]:
    """A config error's lines keyed by the dotted field each names. The first line says
    where (``form: invalid configuration``, or ``peft: peft 'lora': invalid
    configuration`` for a component's options, whose keys then sit under ``peft``)."""
    first, *rest = message.splitlines() or [""]
    match = _LOCATED.match(first)
    if not rest:
        return {match.group(1): match.group(2)} if match else {"": first}
    prefix = f"{match.group(1)}." if match and match.group(1) != "form" else ""
    errors: dict[str, str] = {}
    for line in rest:
        located = _LOCATED.match(line)
        key, text = (prefix + located.group(1), located.group(2)) if located else (
            prefix.rstrip("."), line.strip())
        errors[key] = f"{errors[key]}; {text}" if key in errors else text
    return errors


def read_yaml(text: str, session: Session) -> dict[str, Any]:
    """A YAML file's config in plugtune's sections (a LLaMA-Factory YAML is read by its
    config reader), as the form's values."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            config = load_config(path, readers=session.registry("config_readers"))
        except ConfigError as error:
            raise ConfigError(str(error).replace(str(path), "the YAML")) from None
    return config.model_dump(mode="json")
