"""The embedded default model: ``tiny://<arch>``.

A tiny random-init causal LM (about 5M parameters) with a byte-level BPE tokenizer
trained on text shipped in this package and the architecture's real chat template,
built offline and deterministically, and cached. It lets the fast tests, the tiny quickstart and
the benchmarks run anywhere without downloading a model; what a real model learns is
shown on ``packaged://smollm2-135m-instruct`` (:mod:`plugtune.models.sources`).

Importing this package imports neither torch nor transformers; building does.
"""

from __future__ import annotations

import warnings
from typing import Any

from plugtune.tiny.architectures import ARCHITECTURE_SPECS
from plugtune.tiny.build import build_tiny_model
from plugtune.tiny.cache import BUILDER_VERSION, TINY_SCHEME, tiny_cache_dir, tiny_model_path

#: Names accepted after ``tiny://``.
ARCHITECTURES: tuple[str, ...] = tuple(ARCHITECTURE_SPECS)

__all__ = [
    "ARCHITECTURES",
    "BUILDER_VERSION",
    "TINY_SCHEME",
    "build_tiny_model",
    "tiny_cache_dir",
    "tiny_model_path",
]


def __getattr__(name: str) -> Any:
    """``resolve_model_path`` moved to :mod:`plugtune.models` in 0.2.0 (it now resolves
    every model source, not only ``tiny://``); the old name works until 0.3.0."""
    if name == "resolve_model_path":
        warnings.warn("plugtune.tiny.resolve_model_path moved: import it from "
                      "plugtune.models (removed in 0.3.0)", DeprecationWarning, stacklevel=2)
        from plugtune.models.sources import resolve_model_path

        return resolve_model_path
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
