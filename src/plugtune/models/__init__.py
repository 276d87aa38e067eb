"""Loading models the way a run config says: path (``tiny://`` included), dtype,
quantization, adapters, and the safety switches (remote code, pickle weights).

Shared by trainers, backends and export; imports torch and transformers only when called.
"""

from __future__ import annotations

from plugtune.models.loading import load_causal_lm, resolve_dtype
from plugtune.models.quantization import bitsandbytes_config

__all__ = ["bitsandbytes_config", "load_causal_lm", "resolve_dtype"]
