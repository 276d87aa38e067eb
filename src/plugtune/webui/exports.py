"""Export from the web UI: every format the ``exporters`` registry holds (safetensors,
gguf, a plugin's), with its own options, run as a ``plugtune export`` process.

An exporter may have a ``check()`` method that raises a :class:`PlugtuneError` for what
would fail before any work (``gguf``: llama.cpp's converter missing, a quant type whose
runtime is missing). The page lists a format that fails it with the reason, and an
export that fails it is refused with that message (HTTP 422) instead of starting a
process that would only print it. Options are checked by the format's ``Options`` model
before the process starts, the same way ``plugtune export --option`` checks them.

The web UI names no format: it lists what the registry holds, picks first the format
``plugtune export`` writes when told none (its ``--format`` default, read from the
registered ``export`` command), and lets each format write where it writes by default,
a folder of its own under the run's (``output.dir``), as ``plugtune export`` without
``--to`` does.
"""

from __future__ import annotations

import json
from typing import Any

from plugtune.core.errors import ConfigError, PlugtuneError
from plugtune.core.session import Session
from plugtune.webui.runs import RunStore
from plugtune.webui.tasks import idle_job, use_config

EXPORT_COMMAND = "export"  # the command the web UI runs, and whose default it follows


def export_formats(session: Session) -> list[dict[str, Any]]:
    """Each registered exporter: ``name``, ``doc``, ``options`` (JSON schema or None),
    ``unavailable``, why it cannot run here (None: it can, as far as its defaults tell),
    and ``default``, whether an export that names no format gets it."""
    default = default_format(session)
    formats = []
    for component in session.registry("exporters"):
        model = component.options_model
        formats.append({"name": component.name, "doc": component.doc,
                        "options": model.model_json_schema() if model else None,
                        "unavailable": _unavailable(session, component.name),
                        "default": component.name == default})
    return formats


def default_format(session: Session) -> str | None:
    """The format ``plugtune export`` writes when told none: the ``--format`` default of
    the registered ``export`` command (None: no such command, or no default)."""
    commands = session.registry("commands")
    if EXPORT_COMMAND not in commands:
        return None
    command = commands.get(EXPORT_COMMAND).load()
    defaults = [param.default for param in getattr(command, "params", ())
                if "--format" in getattr(param, "opts", ())]
    return defaults[0] if defaults and isinstance(defaults[0], str) else None


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


def start_export(store: RunStore, name: str, session: Session, format_name: str | None,
                 options: dict[str, Any]) -> None:
    """``plugtune export --format NAME --option KEY=VALUE …`` into the format's own
    folder under the run's, replacing an earlier export there; ``format_name`` None is
    :func:`default_format`. Only a registered name is taken (a code reference would be
    imported), and its options and ``check()`` must pass first."""
    format_name = format_name or default_format(session)
    known = session.registry("exporters").names()
    if format_name is None:
        raise ConfigError(f"name an export format: {', '.join(known)}")
    if format_name not in known:
        raise ConfigError(f"no exporter {format_name!r}; known: {', '.join(known)}")
    component = session.component("exporters", format_name)
    validated = component.validate_options(options)
    given = validated.model_dump(mode="json", exclude_unset=True) if validated else {}
    _check(component.build(given))
    job = idle_job(store, name, "export")
    flags = [f"{key}={json.dumps(value)}" for key, value in given.items()]  # JSON is YAML
    job.start(["plugtune", "export", str(use_config(store, name)), "--format", format_name,
               "--set", "output.overwrite=true",
               *(argument for flag in flags for argument in ("--option", flag))])
