"""Load the tokenizer of a configured model (``tiny://`` refs included)."""

from __future__ import annotations

from typing import Any

from plugtune.core.config import ModelConfig
from plugtune.core.errors import ConfigError


def load_tokenizer(model: ModelConfig) -> Any:
    """The model's fast tokenizer; plugtune encodes with character offsets, which only
    fast (Rust) tokenizers provide."""
    from transformers import AutoTokenizer

    from plugtune.models.sources import resolve_model_path

    path = resolve_model_path(model.path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            path, revision=model.revision, trust_remote_code=model.trust_remote_code
        )
    except OSError as error:
        message = f"model.path: cannot load a tokenizer from {model.path!r}: {error}"
        raise ConfigError(message) from None
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(
            f"model.path: {model.path!r} has no fast tokenizer (tokenizer.json); "
            "plugtune needs one to mask prompts by character offsets"
        )
    return tokenizer


def unpadded_copy(tokenizer: Any) -> Any:
    """A private copy of a fast ``tokenizer`` whose Rust tokenizer neither pads nor
    truncates.

    A fast tokenizer called with ``padding=True`` (as a backend's batched generate does)
    switches padding on in its shared Rust tokenizer, and a call without it switches it
    off again: code that encodes beside a backend (token counts, scoring) would see
    padded ids, or switch padding off under a batch being encoded in another thread."""
    import copy

    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.backend_tokenizer.no_padding()
    tokenizer.backend_tokenizer.no_truncation()
    return tokenizer
