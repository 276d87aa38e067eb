"""Folders built once into plugtune's cache and reused: the tiny models, dequantized GGUF.

A build goes into a temporary folder next to its target and is moved into place with one
``os.replace``, so a reader never sees a half-written folder, and two processes that race
both end up with the same complete folder (the loser throws its copy away).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

#: Environment variable naming plugtune's cache root.
CACHE_ENV_VAR = "PLUGTUNE_CACHE_DIR"


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir`` if given, else ``$PLUGTUNE_CACHE_DIR``, else the platform's user cache
    folder for plugtune (e.g. ``~/.cache/plugtune`` on Linux)."""
    root = cache_dir or os.environ.get(CACHE_ENV_VAR)
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("plugtune")
    return Path(root)


def is_complete(folder: Path, files: Iterable[str]) -> bool:
    return all((folder / name).is_file() for name in files)


def _discard(folder: Path) -> None:
    """Move a broken folder out of the way (atomically) and delete it."""
    trash = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".trash", dir=folder.parent))
    with contextlib.suppress(FileNotFoundError):  # someone else discarded it first
        os.replace(folder, trash / folder.name)
    shutil.rmtree(trash, ignore_errors=True)


def build_once(target: Path, files: tuple[str, ...], build: Callable[[Path], None]) -> Path:
    """Return ``target``, first calling ``build(staging_folder)`` unless it already holds
    every one of ``files`` (a folder missing one is an interrupted build: rebuilt)."""
    if is_complete(target, files):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        logger.warning("discarding incomplete cached folder %s", target)
        _discard(target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        build(staging)
        staging.chmod(0o755)  # mkdtemp makes it owner-only; the cache may be shared
        try:
            os.replace(staging, target)
        except OSError:
            # The target appeared meanwhile: another process finished the same build.
            if not is_complete(target, files):
                raise
            logger.debug("another process built %s first; using its copy", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
