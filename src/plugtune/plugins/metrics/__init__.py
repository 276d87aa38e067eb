"""Built-in metrics."""

from __future__ import annotations

from typing import Any

from plugtune.core.hookspecs import hookimpl
from plugtune.plugins.metrics.exact_match import exact_match


@hookimpl
def register_metrics(register: Any) -> None:
    register("exact_match", exact_match)
