"""What else the machine did while a benchmark ran.

A timed piece of work is compared with the CPU time the whole machine was busy meanwhile:
what the benchmark's own processes did not use is other load, and a timing taken while
other processes used more than ``IDLE_SHARE`` of the cores is taken again (up to
``TRIES`` times), because two shared cores distort every ratio.
"""

from __future__ import annotations

import os
from pathlib import Path

CORES = os.cpu_count() or 1
IDLE_SHARE = 0.1
TRIES = 3


def cpu_seconds() -> float | None:
    """Busy CPU seconds of the whole machine since boot (Linux), else None."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    jiffies = [int(value) for value in fields]
    idle = jiffies[3] + (jiffies[4] if len(jiffies) > 4 else 0)
    return (sum(jiffies[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def foreign_share(busy_before: float | None, busy_after: float | None, own: float,
                  wall: float) -> float:
    """The share of the machine other processes used during ``wall`` seconds, given the
    machine's busy seconds before and after and the benchmark's ``own`` CPU seconds."""
    if busy_before is None or busy_after is None:
        return 0.0
    return max(0.0, (busy_after - busy_before) - own) / (wall * CORES)
