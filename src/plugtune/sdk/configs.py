"""Run configs in any format: plugtune's own, or another tool's that a ``config_readers``
plugin reads (LLaMA-Factory's flat YAML is built in). What ``plugtune.load_config`` and
every ``plugtune`` command read a config file with; the core reads plugtune's format
alone and knows no other tool.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from plugtune.core.config import RunConfig, read_config_file, run_config
from plugtune.core.interfaces import ReadConfig
from plugtune.core.registry import Component

log = logging.getLogger(__name__)


def load_config(
    path: str | Path | None = None,
    overrides: Sequence[str] = (),
    *,
    readers: Iterable[Component] | None = None,
) -> RunConfig:
    """Read, override and validate a run config (component options are checked later,
    by the session). A file in another tool's format is read by the config reader that
    claims it (``readers``: those to ask, default the installed plugins'), its notes
    logged; overrides then use plugtune's keys."""
    data = read_config_file(path) if path is not None else {}
    where = str(path) if path is not None else "config"
    if set(data) - set(RunConfig.model_fields):  # not plugtune's sections alone
        found = read_foreign_config(data, where, readers)
        if found is not None:
            name, read = found
            log.info("%s: read as a %s config (`plugtune config convert` shows it)",
                     where, name)
            for note in read.notes:
                log.warning("%s: %s", where, note)
            data, where = read.config, f"{where} (read as {name})"
    return run_config(data, overrides, where)


def read_foreign_config(
    data: Mapping[str, Any], where: str, readers: Iterable[Component] | None = None
) -> tuple[str, ReadConfig] | None:
    """The name of the config reader that claims ``data`` and what it reads, or None
    when none does (validation then names the keys plugtune does not know)."""
    if readers is None:
        from plugtune.core.plugins import PluginSelection, collect, load_plugins

        readers = collect(load_plugins(PluginSelection.from_environment()), "config_readers")
    for component in readers:
        reader = component.build()
        if reader.claims(data):
            return component.name, reader.read(data, where)
    return None
