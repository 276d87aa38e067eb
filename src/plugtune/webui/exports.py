"""Export from the web UI: every format the ``exporters`` registry holds (safetensors,
gguf, a plugin's), with its own options, run as a ``plugtune export`` process.

An exporter may have a ``check()`` method that raises a :class:`PlugtuneError` for what
would fail before any work (``gguf``: llama.cpp's converter missing, a quant type whose
runtime is missing). The page lists a format that fails it with the reason, and an
export that fails it is refused with that message (HTTP 422) instead of starting a
process that would only print it. Options are checked by the format's ``Options`` model
before the process starts, the same way ``plugtune export --option`` checks them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from plugtune.core.errors import ConfigError, PlugtuneError
from plugtune.core.session import Session
from plugtune.webui.runs import RunStore
from plugtune.webui.tasks import idle_job, use_config

# The format whose output is the merged model: its folder says so.
MERGED = "safetensors"


def export_formats(session: Session) -> list[dict[str, Any]]:
    """Each registered exporter: ``name``, ``doc``, ``options`` (JSON schema or None)
    and ``unavailable``, why it cannot run here (None: it can, as far as its defaults
    tell)."""
    formats = []
    for component in session.registry("exporters"):
        model = component.options_model
        formats.append({"name": component.name, "doc": component.doc,
                        "options": model.model_json_schema() if model else None,
                        "unavailable": _unavailable(session, component.name)})
    return formats


def _unavailable(session: Session, name: str) -> str | None:
    try:
        exporter = session.build("exporters", name)
    except ConfigError:
        return None  # it needs options first: they are checked when the export starts
    try:
        _check(exporter)
    except PlugtuneError as error:
        return str(error)
    return None


def _check(exporter: Any) -> None:
    check = getattr(exporter, "check", None)
    if callable(check):
        check()


def export_folder(store: RunStore, name: str, format_name: str) -> Path:
    """Where a format's export of run ``name`` goes: ``merged/``, or the format's name."""
    return store.folder(name) / ("merged" if format_name == MERGED else format_name)


def start_export(store: RunStore, name: str, session: Session, format_name: str,
                 options: dict[str, Any]) -> None:
    """``plugtune export --format NAME --option KEY=VALUE …`` into :func:`export_folder`,
    replacing an earlier export there. Only a registered name is taken (a code reference
    would be imported), and its options and ``check()`` must pass first."""
    known = session.registry("exporters").names()
    if format_name not in known:
        raise ConfigError(f"no exporter {format_name!r}; known: {', '.join(known)}")
    component = session.component("exporters", format_name)
    validated = component.validate_options(options)
    given = validated.model_dump(mode="json", exclude_unset=True) if validated else {}
    _check(component.build(given))
    job = idle_job(store, name, "export")
    flags = [f"{key}={json.dumps(value)}" for key, value in given.items()]  # JSON is YAML
    job.start(["plugtune", "export", str(use_config(store, name)), "--format", format_name,
               "--to", str(export_folder(store, name, format_name)),
               "--set", "output.overwrite=true",
               *(argument for flag in flags for argument in ("--option", flag))])
