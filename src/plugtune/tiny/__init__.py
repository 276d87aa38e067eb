"""The embedded default model: ``tiny://<arch>``.

A tiny random-init causal LM (about 5M parameters) with a byte-level BPE tokenizer
trained on text shipped in this package and the architecture's real chat template,
built offline and deterministically, and cached. It lets the quickstart, the tests and
the benchmarks run anywhere without downloading a model.

    >>> from plugtune.tiny import resolve_model_path
    >>> resolve_model_path("Qwen/Qwen2.5-0.5B-Instruct")  # not tiny: unchanged
    'Qwen/Qwen2.5-0.5B-Instruct'

Importing this package imports neither torch nor transformers; building does.
"""

from __future__ import annotations

from plugtune.tiny.architectures import ARCHITECTURE_SPECS
from plugtune.tiny.build import build_tiny_model
from plugtune.tiny.cache import (
    BUILDER_VERSION,
    TINY_SCHEME,
    resolve_model_path,
    tiny_cache_dir,
    tiny_model_path,
)

#: Names accepted after ``tiny://``.
ARCHITECTURES: tuple[str, ...] = tuple(ARCHITECTURE_SPECS)

__all__ = [
    "ARCHITECTURES",
    "BUILDER_VERSION",
    "TINY_SCHEME",
    "build_tiny_model",
    "resolve_model_path",
    "tiny_cache_dir",
    "tiny_model_path",
]
