"""Resolve ``tiny://<arch>`` references to a built model folder in the user cache.

A model is built once per (architecture, seed, builder version, corpus) and reused. The
build goes into a temporary folder next to the target and is moved into place with one
``os.replace``, so a reader never sees a half-written folder, and two processes that
race both end up with the same complete folder (the loser throws its copy away).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

from plugtune.tiny import build
from plugtune.tiny.architectures import get_architecture
from plugtune.tiny.corpus import corpus_digest

logger = logging.getLogger(__name__)

TINY_SCHEME = "tiny://"

#: Bump whenever the builder's output changes (template, sizes, tokenizer options…), so
#: caches built by older code are not reused. Corpus changes are caught by its digest.
BUILDER_VERSION = 1

#: Environment variable naming plugtune's cache root; tiny models go in ``<root>/tiny``.
CACHE_ENV_VAR = "PLUGTUNE_CACHE_DIR"


def parse_tiny_ref(ref: str) -> str:
    """Return the architecture named by ``"tiny://<arch>"`` or ``"<arch>"``.

    Raises ``ValueError`` listing the known architectures when the name is unknown.
    """
    arch = ref[len(TINY_SCHEME) :] if ref.startswith(TINY_SCHEME) else ref
    return get_architecture(arch).name


def tiny_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Folder holding the tiny models: ``<cache root>/tiny``.

    The root is ``cache_dir`` if given, else ``$PLUGTUNE_CACHE_DIR``, else the platform's
    user cache folder for plugtune (e.g. ``~/.cache/plugtune`` on Linux).
    """
    root = cache_dir or os.environ.get(CACHE_ENV_VAR)
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("plugtune")
    return Path(root) / "tiny"


def cache_key(arch: str, seed: int) -> str:
    """Folder name of one build; everything that changes the built files is in it."""
    return f"{arch}-seed{seed}-v{BUILDER_VERSION}-{corpus_digest()[:12]}"


def _is_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in build.BUILD_FILES)


def _discard(folder: Path) -> None:
    """Move a broken folder out of the way (atomically) and delete it."""
    trash = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".trash", dir=folder.parent))
    with contextlib.suppress(FileNotFoundError):  # someone else discarded it first
        os.replace(folder, trash / folder.name)
    shutil.rmtree(trash, ignore_errors=True)


def tiny_model_path(
    ref: str, *, cache_dir: str | os.PathLike[str] | None = None, seed: int = 0
) -> Path:
    """Return the folder of the tiny model ``ref`` (``"tiny://qwen2"`` or ``"qwen2"``).

    Builds it into the cache on first use (a second or so), then returns the cached
    folder without building. See :func:`tiny_cache_dir` for where the cache is.
    """
    arch = parse_tiny_ref(ref)
    root = tiny_cache_dir(cache_dir)
    target = root / cache_key(arch, seed)
    if _is_complete(target):
        return target
    root.mkdir(parents=True, exist_ok=True)
    if target.exists():
        logger.warning("discarding incomplete tiny model folder %s", target)
        _discard(target)
    logger.info("building %s%s into %s", TINY_SCHEME, arch, target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=root))
    try:
        build.build_tiny_model(arch, staging, seed=seed)
        staging.chmod(0o755)  # mkdtemp makes it owner-only; the cache may be shared
        try:
            os.replace(staging, target)
        except OSError:
            # The target appeared meanwhile: another process finished the same build.
            if not _is_complete(target):
                raise
            logger.debug("another process built %s first; using its copy", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def resolve_model_path(ref: str) -> str:
    """Turn a model reference into something ``from_pretrained`` accepts.

    ``tiny://<arch>`` becomes the path of the cached build; any other string (a local
    path, a hub id) is returned unchanged.
    """
    if ref.startswith(TINY_SCHEME):
        return str(tiny_model_path(ref))
    return ref
