"""How a run's metric scores are shown: one rich table, shared by ``plugtune predict``
and the generation tasks of ``plugtune eval``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def metrics_table(title: str, metrics: Mapping[str, float]) -> Any:
    """A ``rich.table.Table`` of metric name and value (4 decimals)."""
    from rich.table import Table

    table = Table("metric", "value", title=title)
    for name, value in metrics.items():
        table.add_row(name, f"{value:.4f}")
    return table
