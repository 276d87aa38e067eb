"""Which checkpoints are complete, and which one a run resumes from.

transformers writes ``checkpoint-N`` file by file; a process killed halfway leaves a
folder that looks like a checkpoint and is not. plugtune marks a checkpoint complete
once the trainer has finished saving it (:class:`CheckpointMarker`), and only marked
checkpoints are ever resumed from; unmarked leftovers are removed on resume.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path

from plugtune.core.errors import ConfigError

log = logging.getLogger(__name__)

MARKER = "plugtune-complete.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_dirs(output_dir: Path) -> list[tuple[int, Path]]:
    """``(step, folder)`` of every ``checkpoint-N`` folder, oldest first."""
    if not output_dir.is_dir():
        return []
    found = []
    for child in output_dir.iterdir():
        match = _CHECKPOINT.match(child.name)
        if match and child.is_dir():
            found.append((int(match.group(1)), child))
    return sorted(found)


def is_complete(checkpoint: Path) -> bool:
    return (checkpoint / MARKER).is_file()


def mark_complete(checkpoint: Path, step: int) -> None:
    """Write the marker atomically (temp file, fsync, rename): it exists whole or not."""
    temporary = checkpoint / f".{MARKER}.tmp"
    with temporary.open("w", encoding="utf-8") as handle:
        json.dump({"step": step}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(checkpoint / MARKER)


def latest_complete(output_dir: Path) -> Path | None:
    complete = [path for _, path in checkpoint_dirs(output_dir) if is_complete(path)]
    return complete[-1] if complete else None


def discard_incomplete(output_dir: Path) -> None:
    """Remove checkpoint folders a killed run left half-written."""
    for _, path in checkpoint_dirs(output_dir):
        if not is_complete(path):
            log.warning("removing incomplete checkpoint %s (the run stopped while saving it)",
                        path.name)
            shutil.rmtree(path)


def resume_checkpoint(resume: str | None, output_dir: Path) -> str | None:
    """The checkpoint folder to resume from: ``auto`` picks the newest complete one
    (none yet: start afresh), a path must be a complete checkpoint."""
    if resume is None:
        return None
    if resume == "auto":
        discard_incomplete(output_dir)
        latest = latest_complete(output_dir)
        if latest is None:
            log.info("no complete checkpoint in %s: starting from the beginning", output_dir)
            return None
        log.info("resuming from %s", latest)
        return str(latest)
    path = Path(resume)
    if not path.is_dir():
        raise ConfigError(f"resume_from_checkpoint: {resume!r} is not a folder")
    if not is_complete(path):
        raise ConfigError(
            f"resume_from_checkpoint: {resume!r} is not a complete checkpoint "
            f"(no {MARKER}); the run that wrote it stopped while saving"
        )
    return str(path)
