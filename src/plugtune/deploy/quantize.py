"""GGUF quantization types, and llama.cpp's quantizer for those the converter cannot write.

The converter writes f32/f16/bf16/q8_0 in Python. The 4- and 5-bit types people deploy
(q4_k_m above all) come from llama.cpp's C++ quantizer, reached through the
``llama-cpp-python`` runtime (``make llamacpp``); without it those types are a clear
error before anything is merged or converted.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from types import ModuleType

from plugtune.core.errors import ConfigError, PlugtuneError
from plugtune.deploy.gguf import CONVERTER_TYPES

#: Types llama.cpp's quantizer writes (its ``LLAMA_FTYPE_MOSTLY_<NAME>``).
QUANTIZER_TYPES = ("q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k_s", "q3_k_m", "q3_k_l",
                   "q4_k_s", "q4_k_m", "q5_k_s", "q5_k_m", "q6_k")
QUANT_TYPES = (*CONVERTER_TYPES, *QUANTIZER_TYPES)
RUNTIME_HINT = ("pip install llama-cpp-python==0.3.36 (a source build, about 15 minutes "
                "on 2 cores; `make llamacpp` does it)")


def check_quant(quant: str) -> str:
    """The lower-case type name; an unknown one, or one that needs the missing
    runtime, is a :class:`ConfigError` raised before any work starts."""
    name = quant.lower()
    if name not in QUANT_TYPES:
        raise ConfigError(f"GGUF quant {quant!r}: expected one of {', '.join(QUANT_TYPES)}")
    if name in QUANTIZER_TYPES:
        _runtime(name)
    return name


def quantize(source: Path, target: Path, quant: str) -> Path:
    """``source`` (an f16/bf16/f32 GGUF) quantized to ``quant`` at ``target``; the
    header (chat template, stop tokens, plugtune's keys) is carried over."""
    llama_cpp = _runtime(quant)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{quant.upper()}")
    params.nthread = os.cpu_count() or 1
    failed = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(),
                                            ctypes.byref(params))
    if failed or not target.is_file():
        target.unlink(missing_ok=True)
        raise PlugtuneError(f"llama.cpp could not quantize {source} to {quant} (code {failed})")
    return target


def _runtime(quant: str) -> ModuleType:
    """The ``llama_cpp`` module (optional: see :data:`RUNTIME_HINT`)."""
    try:
        import llama_cpp
    except ImportError:
        raise ConfigError(f"GGUF quant {quant}: llama.cpp's quantizer is needed: "
                          f"{RUNTIME_HINT}; or choose one of {', '.join(CONVERTER_TYPES)}, "
                          "which the converter writes itself") from None
    return llama_cpp
