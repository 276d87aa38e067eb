"""What else the machine did while a benchmark ran.

A timed piece of work is compared with the CPU time the whole machine was busy meanwhile:
what the benchmark's own processes did not use is other load, and a timing taken while
other processes used more than ``IDLE_SHARE`` of the cores is taken again (up to
``TRIES`` times), because two shared cores distort every ratio.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def children_cpu() -> float:
    """CPU seconds of this process's finished (waited-for) children."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_until_idle(limit: float, most: float = IDLE_SHARE) -> float:
    """Wait (at most ``limit`` s) until the other processes use under ``most`` of the
    machine over 2 s; return the share they used last."""
    deadline = time.monotonic() + limit
    while True:
        before = cpu_seconds()
        if before is None:
            return 0.0
        time.sleep(2.0)
        share = (cpu_seconds() - before) / (2.0 * CORES)  # type: ignore[operator]
        if share < most or time.monotonic() > deadline:
            return share
        time.sleep(5.0)


def own_cpu() -> float:
    """CPU seconds of this process and its children (the server, vLLM's engine)."""
    import psutil  # accelerate's dependency

    me, total = psutil.Process(), 0.0
    for process in (me, *me.children(recursive=True)):
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def timed(work: Callable[[], Any]) -> tuple[Any, float, float]:
    """``work()``'s result, its wall seconds and the share of the machine other processes
    used meanwhile; run again (up to TRIES) while that share is above IDLE_SHARE."""
    tries = []
    for _ in range(TRIES):
        busy, own, started = cpu_seconds(), own_cpu(), time.perf_counter()
        result = work()
        wall = time.perf_counter() - started
        foreign = foreign_share(busy, cpu_seconds(), own_cpu() - own, wall)
        tries.append((result, wall, foreign))
        if foreign < IDLE_SHARE:
            break
        print(f"  (other processes used {foreign:.0%} of the machine; again)", flush=True)
    return min(tries, key=lambda found: found[2])
