"""Loading models the way a run config says: where the weights come from (``tiny://``,
``packaged://``, a ``.gguf`` file, a folder or hub id), dtype, quantization, adapters, and
the safety switches (remote code, pickle weights).

Shared by trainers, backends and export; imports torch and transformers only when called.
"""

from __future__ import annotations

from plugtune.models.loading import load_causal_lm, resolve_dtype
from plugtune.models.quantization import bitsandbytes_config
from plugtune.models.sources import resolve_model_path

__all__ = ["bitsandbytes_config", "load_causal_lm", "resolve_dtype", "resolve_model_path"]
