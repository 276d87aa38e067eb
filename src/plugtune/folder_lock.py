"""One writer per folder: a run holds its ``output.dir`` while it trains, and ``plugtune
data prepare`` and ``plugtune export`` hold the folder they write.

Why: two runs started with the same ``output.dir`` (the same command twice, a web UI
launch beside a terminal one) shared it silently, and the second one's
``output.overwrite: true`` deleted the first one's folder while it trained. Now the
second writer is refused at once, and told who holds the folder (pid, command, start).

How:

- the lock is ``fcntl.flock`` on a file *beside* the folder, ``.<name>.plugtune-lock``
  in its parent, so that deleting the folder (``overwrite``) cannot drop it, and the
  kernel releases it when its process dies, however it dies;
- the file holds a JSON record of its holder, which a refused writer reads; the holder
  removes the file when it is done. A file a killed process left behind is stale (its
  flock free, its pid gone): the next writer takes it over and logs whose it was;
- a folder inside a held one is held too (``<output.dir>/merged``, an export's default);
- a process may write a folder it holds already, or one inside it: one run's nested
  writers are one writer.

The processes of one run (torchrun, accelerate, Ray Train) share its folder: the main
process holds the lock for them all (:func:`plugtune.training.run.train.train`).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shlex
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from plugtune.core.errors import PlugtuneError

log = logging.getLogger(__name__)

LOCK_SUFFIX = ".plugtune-lock"
# The folders this process holds, by resolved path, with the lock file's descriptor.
_HELD: dict[Path, int] = {}


class FolderBusy(PlugtuneError):
    """Another live process writes the folder (or a folder it is in)."""


@dataclass(frozen=True)
class Holder:
    """Who holds a folder: the record in its lock file."""

    pid: int
    host: str
    command: str
    started: str

    @classmethod
    def this_process(cls) -> Holder:
        started = datetime.now().astimezone().isoformat(timespec="seconds")
        return cls(os.getpid(), socket.gethostname(), shlex.join(sys.orig_argv), started)

    def alive(self) -> bool:
        """Whether its process still runs, as far as this machine can tell."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's process
            return True
        return True

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host} ({self.command}), started {self.started}"


def lock_path(folder: Path) -> Path:
    """The lock file of ``folder`` (resolved): beside it, so that removing it keeps it."""
    return folder.parent / f".{folder.name}{LOCK_SUFFIX}"


@contextmanager
def hold_folder(folder: str | Path) -> Iterator[Path]:
    """Hold ``folder`` while the block runs; :class:`FolderBusy` at once if a live
    process holds it or a folder it is in. Yields the resolved path."""
    path = Path(folder).expanduser().resolve()
    check_free(path)
    if path in _HELD or any(parent in _HELD for parent in path.parents):
        yield path
        return
    descriptor = _take(path)
    _HELD[path] = descriptor
    try:
        yield path
    finally:
        del _HELD[path]
        if _same_file(descriptor, lock_path(path)):
            lock_path(path).unlink()  # still holding it: a waiting writer opens a new file
        os.close(descriptor)


def check_free(folder: str | Path) -> None:
    """:class:`FolderBusy` if another live process holds ``folder`` or a folder it is in:
    a check before work that starts elsewhere (Ray's workers, a web UI launch)."""
    path = Path(folder).expanduser().resolve()
    for held in (path, *path.parents):
        if held in _HELD:
            return
        holder = _live_holder(held)
        if holder is not None:
            raise FolderBusy(_busy(path, held, holder))


def _live_holder(folder: Path) -> Holder | str | None:
    """The holder of ``folder``'s lock while its flock is taken, else None."""
    try:
        descriptor = os.open(lock_path(folder), os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read(descriptor) or "another process"
    finally:
        os.close(descriptor)  # closing releases a shared flock taken just now
    return None


def _take(path: Path) -> int:
    """The lock file's descriptor, its flock taken and this process's record written."""
    lock = lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(descriptor) or "another process"
            os.close(descriptor)
            raise FolderBusy(_busy(path, path, holder)) from None
        if _same_file(descriptor, lock):
            break
        os.close(descriptor)  # its holder removed it while this one opened it: again
    left = _read(descriptor)
    if left is not None:
        why = "still runs but no longer holds it" if left.alive() else "no longer runs"
        log.warning("%s: taking over the lock left by %s, which %s", path, left, why)
    record = json.dumps(asdict(Holder.this_process())).encode()
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, record, 0)
    return descriptor


def _read(descriptor: int) -> Holder | None:
    """The record in a lock file; None when empty or half written."""
    try:
        return Holder(**json.loads(os.pread(descriptor, 65536, 0)))
    except (ValueError, TypeError):
        return None


def _same_file(descriptor: int, path: Path) -> bool:
    try:
        found = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(descriptor)
    return (opened.st_dev, opened.st_ino) == (found.st_dev, found.st_ino)


def _busy(path: Path, held: Path, holder: Holder | str) -> str:
    where = f"{path} is in use" if held == path else f"{path} is inside {held}, in use"
    return (f"{where} by {holder}; wait until it ends (a stopped run continues with "
            f"--resume), or choose another folder (lock file: {lock_path(held)})")
