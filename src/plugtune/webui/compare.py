"""Comparing runs: their configs side by side, only where they differ."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"training": {"seed": 1}}`` -> ``{"training.seed": 1}`` (lists stay values)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def config_diff(configs: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per dotted key whose value is not the same in every run (a key a run
    lacks counts as None), sorted by key; ``output.dir`` differs by design and is left
    out."""
    flat = {name: flatten(config) for name, config in configs.items()}
    keys = sorted(set().union(*flat.values()) - {"output.dir"}) if flat else []
    rows = []
    for key in keys:
        values = {name: values.get(key) for name, values in flat.items()}
        if len({repr(value) for value in values.values()}) > 1:
            rows.append({"key": key, "values": values})
    return rows
