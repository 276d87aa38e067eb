"""Which adapter a config's model answers with: the one its run trained, unless told.

``plugtune train CONFIG`` leaves its adapter in ``output.dir``; ``predict``, ``chat``,
``serve``, ``eval`` and ``export`` with the same CONFIG then use it, so the model a
newcomer trained is the model that answers. The order, for every command alike:
``--adapter PATH`` given, else ``--base`` (no adapter), else the adapter in
``output.dir``, else ``model.adapter`` (an inference config naming a trained adapter),
else the base model.
"""

from __future__ import annotations

import re
from pathlib import Path

from plugtune.core.config import RunConfig
from plugtune.core.errors import ConfigError

ADAPTER_CONFIG = "adapter_config.json"
_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


def run_adapter(config: RunConfig, adapter: str | Path | None = None, *,
                base: bool = False) -> str | None:
    """The adapter the config's model answers with (see the module's order); ``None``
    is the base model."""
    if adapter is not None:
        if base:
            raise ConfigError("--adapter and --base contradict each other: choose one")
        return checked_adapter(str(adapter), "--adapter")
    if base:
        return None
    run_dir = Path(config.output.dir)
    if (run_dir / ADAPTER_CONFIG).is_file():
        return str(run_dir)
    if config.model.adapter:
        return checked_adapter(config.model.adapter, "model.adapter")
    return None


def with_run_adapter(config: RunConfig, adapter: str | Path | None = None, *,
                     base: bool = False) -> RunConfig:
    """``config`` with ``model.adapter`` set to :func:`run_adapter`'s choice."""
    chosen = config.model_copy(deep=True)
    chosen.model.adapter = run_adapter(config, adapter, base=base)
    return chosen


def describe_model(config: RunConfig) -> str:
    """Which model answers, for tables and logs: ``base + adapter PATH`` or ``base (no
    adapter)``."""
    if config.model.adapter:
        return f"{config.model.path} + adapter {config.model.adapter}"
    return f"{config.model.path} (base model, no adapter)"


def checked_adapter(ref: str, where: str) -> str:
    """``ref`` if it is a PEFT adapter folder or a hub id, else a ConfigError naming
    ``where`` it came from."""
    path = Path(ref).expanduser()
    if path.is_dir():
        if not (path / ADAPTER_CONFIG).is_file():
            raise ConfigError(f"{where}: {ref} has no {ADAPTER_CONFIG}; not a PEFT adapter folder")
        return str(path)
    if path.exists() or not _HUB_ID.fullmatch(ref):
        raise ConfigError(f"{where}: {ref} is not an adapter folder")
    return ref  # a hub id: peft fetches it (or finds it in the cache when offline)
