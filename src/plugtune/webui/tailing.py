"""Read a growing JSON-lines log from a byte offset: each refresh costs what was
appended since the last one, never the whole file (a 10k-step run stays cheap)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Tail:
    """The complete lines appended to a file after ``offset``, parsed, and the offset
    the next read starts from. A line still being written (no newline yet) is left for
    the next read, so a half-flushed entry is never shown as a broken point."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    offset: int = 0


def read_from(path: Path, offset: int = 0) -> Tail:
    """The entries of ``path`` after byte ``offset``; a file shorter than ``offset``
    (replaced by a new run) is read again from the start."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return Tail(offset=0)
    if offset > size:
        offset = 0
    with path.open("rb") as handle:
        handle.seek(offset)
        chunk = handle.read(size - offset)
    complete = chunk.rfind(b"\n") + 1
    entries = []
    for line in chunk[:complete].splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a crash: skipped, the curve goes on
        if isinstance(entry, dict):
            entries.append(entry)
    return Tail(entries=entries, offset=offset + complete)


def last_lines(path: Path, count: int = 30, window: int = 16384) -> list[str]:
    """The last ``count`` lines of a text file (a crashed run's error), reading only its
    last ``window`` bytes."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - window))
            text = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return text.splitlines()[-count:]
