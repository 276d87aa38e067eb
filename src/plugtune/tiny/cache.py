"""Resolve ``tiny://<arch>`` references to a built model folder in the user cache.

A model is built once per (architecture, seed, builder version, corpus) and reused
(:func:`plugtune.folder_cache.build_once`: atomic, safe for racing processes).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from plugtune.folder_cache import build_once, cache_root
from plugtune.tiny import build
from plugtune.tiny.architectures import get_architecture
from plugtune.tiny.corpus import corpus_digest

logger = logging.getLogger(__name__)

TINY_SCHEME = "tiny://"

#: Bump whenever the builder's output changes (template, sizes, tokenizer options…), so
#: caches built by older code are not reused. Corpus changes are caught by its digest.
BUILDER_VERSION = 1


def parse_tiny_ref(ref: str) -> str:
    """Return the architecture named by ``"tiny://<arch>"`` or ``"<arch>"``.

    Raises ``ValueError`` listing the known architectures when the name is unknown.
    """
    arch = ref[len(TINY_SCHEME) :] if ref.startswith(TINY_SCHEME) else ref
    return get_architecture(arch).name


def tiny_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Folder holding the tiny models: ``<cache root>/tiny`` (see
    :func:`plugtune.folder_cache.cache_root`)."""
    return cache_root(cache_dir) / "tiny"


def cache_key(arch: str, seed: int) -> str:
    """Folder name of one build; everything that changes the built files is in it."""
    return f"{arch}-seed{seed}-v{BUILDER_VERSION}-{corpus_digest()[:12]}"


def tiny_model_path(
    ref: str, *, cache_dir: str | os.PathLike[str] | None = None, seed: int = 0
) -> Path:
    """Return the folder of the tiny model ``ref`` (``"tiny://qwen2"`` or ``"qwen2"``).

    Builds it into the cache on first use (a second or so), then returns the cached
    folder without building. See :func:`tiny_cache_dir` for where the cache is.
    """
    arch = parse_tiny_ref(ref)
    target = tiny_cache_dir(cache_dir) / cache_key(arch, seed)

    def build_into(staging: Path) -> None:
        logger.info("building %s%s into %s", TINY_SCHEME, arch, target)
        build.build_tiny_model(arch, staging, seed=seed)

    return build_once(target, build.BUILD_FILES, build_into)
