"""plugtune: fine-tune, align, serve and evaluate LLMs; every moving part is a plugin.

The public API for tools that embed plugtune::

    from plugtune import Session, load_config

    config = load_config("run.yaml", ["training.learning_rate=5e-5"])
    session = Session.from_config(config)
    session.validate(config)
    reward = session.build("rewards", "length")

    from plugtune import Predictor          # answers questions with a (fine-tuned) model

    predictor = Predictor("tiny://qwen2", adapter="out/")
    predictor("question", history=[("earlier question", "its answer")])

Importing this package imports no torch, transformers or trl.
"""

from __future__ import annotations

from plugtune.core.config import ComponentRef, RunConfig, config_schema
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
    "Predictor",
    "Registry",
    "RunConfig",
    "Session",
    "UnknownComponentError",
    "config_schema",
    "hookimpl",
    "load_config",
]


def __getattr__(name: str) -> object:
    """Imported on first use, so that importing the core loads nothing above it:
    ``load_config`` (which also reads other tools' configs through ``config_readers``
    plugins) and ``Predictor`` (which pulls in the inference code)."""
    if name == "load_config":
        from plugtune.sdk.configs import load_config

        return load_config
    if name == "Predictor":
        from plugtune.inference.predictor import Predictor

        return Predictor
    raise AttributeError(f"module 'plugtune' has no attribute {name!r}")
