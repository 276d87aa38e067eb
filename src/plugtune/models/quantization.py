"""bitsandbytes quantization settings from the config's ``quantization`` section."""

from __future__ import annotations

from typing import Any

from plugtune.core.config import QuantizationConfig
from plugtune.core.errors import ConfigError


def bitsandbytes_config(quantization: QuantizationConfig, compute_dtype: Any) -> Any:
    """A ``BitsAndBytesConfig`` for 4-bit (nf4/fp4, double quantization) or 8-bit loading.

    ``compute_dtype`` is the torch dtype used when ``quantization.compute_dtype`` is auto.
    """
    import torch

    try:
        import bitsandbytes  # noqa: F401  (fail here, with the fix, not deep in transformers)
    except ImportError:
        raise ConfigError(
            "quantization needs bitsandbytes: pip install 'plugtune[quant]'"
        ) from None
    from transformers import BitsAndBytesConfig

    if quantization.bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    dtype = (
        compute_dtype
        if quantization.compute_dtype == "auto"
        else getattr(torch, quantization.compute_dtype)
    )
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=quantization.quant_type,
        bnb_4bit_use_double_quant=quantization.double_quant,
        bnb_4bit_compute_dtype=dtype,
    )
