"""Load a causal LM from a :class:`~plugtune.core.config.ModelConfig`.

Safe by default: code shipped with a model runs only with ``trust_remote_code``, and
weights load from safetensors unless ``allow_pickle`` says a pickle checkpoint is
trusted.
"""

from __future__ import annotations

import logging
from typing import Any

from plugtune.core.config import ModelConfig, QuantizationConfig
from plugtune.core.errors import ConfigError

log = logging.getLogger(__name__)


def resolve_dtype(dtype: str) -> Any:
    """The torch dtype for ``model.dtype``; ``auto`` is bfloat16 on a GPU that has it,
    else float32 (bfloat16 matmuls are slower than float32 on most CPUs)."""
    import torch

    if dtype != "auto":
        return getattr(torch, dtype)
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def load_causal_lm(
    model: ModelConfig,
    quantization: QuantizationConfig | None = None,
    *,
    device_map: Any = None,
    auto_class: str | None = None,
    **head: Any,
) -> Any:
    """The base model (``model.adapter`` is not applied here: trainers and backends
    each decide whether it is trained further or only used). ``auto_class`` names the
    transformers auto class; by default :func:`model_auto_class` chooses. ``head`` passes
    what that class needs beyond the config (``num_labels=1`` for a reward model's
    ``score`` head), so every model loads under the same rules: dtype, attention,
    quantization, safetensors, remote code."""
    import transformers

    from plugtune.models.sources import resolve_model_path

    path = resolve_model_path(model.path)
    auto_class = auto_class or model_auto_class(path)

    dtype = resolve_dtype(model.dtype)
    kwargs: dict[str, Any] = {
        "revision": model.revision,
        "trust_remote_code": model.trust_remote_code,
        "dtype": dtype,
        # True: refuse pickle weights; None: prefer safetensors, fall back to .bin.
        "use_safetensors": None if model.allow_pickle else True,
        **head,
    }
    if model.attention is not None:
        kwargs["attn_implementation"] = model.attention
    if quantization is not None:
        from plugtune.models.quantization import bitsandbytes_config

        kwargs["quantization_config"] = bitsandbytes_config(quantization, dtype)
        kwargs["device_map"] = device_map or {"": _default_device()}
    elif device_map is not None:
        kwargs["device_map"] = device_map
    try:
        return getattr(transformers, auto_class).from_pretrained(path, **kwargs)
    except ImportError as error:  # e.g. flash_attention_2 without the flash-attn package
        raise ConfigError(f"model.attention: {model.attention!r} cannot be used here: "
                          f"{error}") from None
    except (OSError, ValueError) as error:
        raise ConfigError(_explain(model, error)) from None


def model_auto_class(path: str) -> str:
    """``AutoModelForImageTextToText`` when the model at ``path`` has an image processor
    (a vision-language model, decided as the transformers backend decides), else
    ``AutoModelForCausalLM``: training, export and serving load the same class, so an
    adapter trained on a VLM applies to the model it is served on."""
    from plugtune.sdk.backends.vision import load_image_processor

    if load_image_processor(path) is None:
        return "AutoModelForCausalLM"
    return "AutoModelForImageTextToText"


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _explain(model: ModelConfig, error: Exception) -> str:
    text = str(error)
    if not model.allow_pickle and "safetensors" in text.lower():
        return (
            f"model.path: {model.path!r} has no safetensors weights. Pickle (.bin) "
            "checkpoints can run code when loaded: set model.allow_pickle: true only "
            "for a checkpoint you trust"
        )
    if "trust_remote_code" in text:
        return (
            f"model.path: {model.path!r} ships its own model code; set "
            "model.trust_remote_code: true only if you trust it"
        )
    return f"model.path: cannot load {model.path!r}: {text}"
