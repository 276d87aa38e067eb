"""Built-in CLI commands that are not part of the core (registered like any plugin's)."""

from __future__ import annotations

from typing import Any

from plugtune.core.hookspecs import hookimpl
from plugtune.plugins.commands.rag import rag
from plugtune.plugins.commands.tiny_model import tiny_model


@hookimpl
def register_commands(register: Any) -> None:
    register(tiny_model)
    register(rag)
