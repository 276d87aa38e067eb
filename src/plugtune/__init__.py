"""plugtune: fine-tune, align, serve and evaluate LLMs; every moving part is a plugin.

The public API for tools that embed plugtune::

    from plugtune import Session, load_config

    config = load_config("run.yaml", ["training.learning_rate=5e-5"])
    session = Session.from_config(config)
    session.validate(config)
    reward = session.build("rewards", "length")

Importing this package imports no torch, transformers or trl.
"""

from __future__ import annotations

from plugtune.core.config import ComponentRef, RunConfig, config_schema, load_config
from plugtune.core.errors import (
    ConfigError,
    DuplicateComponentError,
    PluginError,
    PlugtuneError,
    UnknownComponentError,
)
from plugtune.core.hookspecs import hookimpl
from plugtune.core.plugins import PluginProblem, PluginSelection
from plugtune.core.registry import KINDS, Component, Registry
from plugtune.core.session import Session

__all__ = [
    "KINDS",
    "Component",
    "ComponentRef",
    "ConfigError",
    "DuplicateComponentError",
    "PluginError",
    "PluginProblem",
    "PluginSelection",
    "PlugtuneError",
    "Registry",
    "RunConfig",
    "Session",
    "UnknownComponentError",
    "config_schema",
    "hookimpl",
    "load_config",
]
