"""What a run needs to know about the processes it trains with.

``accelerate launch`` and ``torchrun`` set the rendezvous variables; a plain
``plugtune train`` with a DeepSpeed config would otherwise send DeepSpeed looking for
MPI (``No module named 'mpi4py'``). A single process needs no launcher, so plugtune
sets the variables of a world of one.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path

log = logging.getLogger(__name__)


def launched() -> bool:
    """Whether a launcher (accelerate, torchrun, deepspeed) started this process."""
    return "WORLD_SIZE" in os.environ or "OMPI_COMM_WORLD_SIZE" in os.environ


def world_size() -> int:
    """How many processes train together (1 without a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Rank 0 under a launcher, or a single process."""
    return int(os.environ.get("RANK", "0")) == 0


def leave_process_group() -> None:
    """At the end of a successful run, wait for every process, then tear the process
    group down. A process that simply exits while a peer is still in a last collective
    (a checkpoint's, the final save's) makes gloo abort that peer ("terminate called
    without an active exception", SIGABRT): seen with two nodes. No-op without a group."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def single_process_world() -> None:
    """Set the rendezvous variables of one process on this machine (a free port)."""
    if launched():
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    values = {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0",
              "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    for key, value in values.items():
        os.environ.setdefault(key, value)
    log.info("DeepSpeed without a launcher: training as a world of one process")


def wait_for_file(path: Path, timeout_s: float, why: str) -> None:
    """Wait until the main process has written ``path`` (polling the filesystem).

    Used before training starts, when transformers has not created the process group
    yet (it does so with the run's backend and timeout, from the training arguments;
    creating it earlier would fix those for DeepSpeed too). ``why`` ends the error."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path}: not written by rank 0 within {timeout_s:.0f} s; {why}")
        time.sleep(0.5)
