"""Which loader reads a dataset that does not say: decided from its first row's keys.

The rule, first match wins (``MESSAGES`` is a ``conversations`` or ``messages`` list;
its style is sharegpt when its first message has a ``from`` key, openai when it has
``role``, else sharegpt for ``conversations`` and openai for ``messages``):

1. a ``.txt`` or ``.md`` file                      → ``text``
2. ``chosen`` and ``rejected``, with ``instruction`` → ``alpaca`` (ranking)
                                 with MESSAGES    → its style (ranking)
                                 otherwise        → ``preference``
3. ``gold_answers`` or ``bad_answers``            → ``gold_bad``
4. ``label`` and ``completion``                   → ``kto``
5. ``instruction``                                → ``alpaca``
6. ``context`` and ``target``                     → ``context_target``
7. ``prompt`` and ``answer``                      → ``prompt_answer``
8. MESSAGES (with ``label``: KTO via ``kto_tag``)  → its style
9. ``text``                                       → ``text``

Anything else is an error listing the row's keys: guessing wrong would train on the
wrong thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from plugtune.core.errors import ConfigError
from plugtune.data.files import TEXT_SUFFIXES

MESSAGE_KEYS = ("conversations", "messages")


def detect_format(first_row: Any, path: Path) -> tuple[str, dict[str, Any]]:
    """The loader name and the options it needs for rows like ``first_row``."""
    if path.suffix.lower() in TEXT_SUFFIXES:
        return "text", {}
    if not isinstance(first_row, Mapping):
        raise ConfigError(f"{path}: no record to detect the format from; set format:")
    keys = set(first_row)
    messages = next((key for key in MESSAGE_KEYS if isinstance(first_row.get(key), list)), None)
    if {"chosen", "rejected"} <= keys:
        if "instruction" in keys:
            return "alpaca", {"ranking": True}
        if messages is not None:
            return _style(first_row, messages), {"ranking": True, "columns": {"messages": messages}}
        return "preference", {}
    if keys & {"gold_answers", "bad_answers"}:
        return "gold_bad", {}
    if {"label", "completion"} <= keys:
        return "kto", {}
    if "instruction" in keys:
        return "alpaca", {}
    if {"context", "target"} <= keys:
        return "context_target", {}
    if {"prompt", "answer"} <= keys:
        return "prompt_answer", {}
    if messages is not None:
        options: dict[str, Any] = {"columns": {"messages": messages}}
        if "label" in keys:
            options["columns"]["kto_tag"] = "label"
        return _style(first_row, messages), options
    if "text" in keys:
        return "text", {}
    shown = ", ".join(sorted(map(str, keys))[:12]) or "none"
    raise ConfigError(
        f"{path}: cannot tell the format from the first record's keys ({shown}); "
        "set format: (see docs/data.md)"
    )


def _style(row: Mapping[str, Any], key: str) -> str:
    first = next(iter(row[key]), None)
    if isinstance(first, Mapping) and ("from" in first or "role" in first):
        return "sharegpt" if "from" in first else "openai"
    return "sharegpt" if key == "conversations" else "openai"


def is_pretraining(columns: Mapping[str, Any], ranking: bool, first_row: Any, path: Path) -> bool:
    """Whether a LLaMA-Factory alpaca entry is a pretraining corpus: a ``.txt`` file, or
    ``columns`` naming only ``prompt`` over rows without the default ``output`` (the
    shape LLaMA-Factory documents for pretraining data, e.g. ``{prompt: text}``)."""
    if path.suffix.lower() == ".txt" and not ranking:
        return True
    if ranking or set(columns) != {"prompt"}:
        return False
    return not (isinstance(first_row, Mapping) and "output" in first_row)
