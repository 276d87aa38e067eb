"""Create and save the random-init causal LM of a tiny model.

Weights are drawn from a local ``torch.Generator`` in parameter-name order rather than
left to transformers' initialisation, so the bytes of model.safetensors depend only on
the seed, not on how a transformers version happens to order its init calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugtune.tiny.architectures import COMMON_CONFIG, TinyArchitecture

if TYPE_CHECKING:
    from transformers import GenerationConfig, PreTrainedModel


def model_config_fields(arch: TinyArchitecture) -> dict[str, Any]:
    """Every field of the model's config: shared sizes, per-arch fields, special token ids."""
    return {
        **COMMON_CONFIG,
        **arch.config,
        "bos_token_id": arch.token_id(arch.bos_token) if arch.bos_token else None,
        "eos_token_id": arch.token_id(arch.eos_token),
        "pad_token_id": arch.token_id(arch.pad_token),
        "dtype": "float32",
    }


def generation_config(arch: TinyArchitecture) -> GenerationConfig:
    """Stop on end-of-turn and end-of-text, pad with the pad token; greedy by default.

    Real chat models ship sampling defaults; a tiny random model is only used in tests,
    where reproducible (greedy) generation is worth more.
    """
    from transformers import GenerationConfig

    return GenerationConfig(
        bos_token_id=arch.token_id(arch.bos_token) if arch.bos_token else None,
        eos_token_id=[arch.token_id(token) for token in arch.generation_eos_tokens],
        pad_token_id=arch.token_id(arch.pad_token),
    )


def create_model(arch: TinyArchitecture, seed: int) -> PreTrainedModel:
    """Instantiate the model and fill its weights deterministically from ``seed``.

    Matrices get N(0, initializer_range), biases zeros, norm weights ones: the same
    distributions transformers uses, drawn in a fixed order from a local generator.
    """
    import torch
    import transformers

    config = getattr(transformers, arch.config_class)(**model_config_fields(arch))
    if arch.vision is not None:
        from plugtune.tiny.vision import wrap_config

        config = wrap_config(arch, config)
    torch.manual_seed(seed)
    model = getattr(transformers, arch.model_class)(config)
    generator = torch.Generator().manual_seed(seed)
    std = float(COMMON_CONFIG["initializer_range"])
    with torch.no_grad():
        for name, param in sorted(model.named_parameters()):
            if param.ndim >= 2:
                param.normal_(0.0, std, generator=generator)
            elif name.endswith(".bias"):
                param.zero_()
            else:
                param.fill_(1.0)
    model.generation_config = generation_config(arch)
    model.eval()
    return model


def save_model(model: PreTrainedModel, out_dir: Path) -> None:
    """Write config.json, generation_config.json and model.safetensors into ``out_dir``.

    transformers' "Writing model shards" bar is switched off meanwhile: a one-shard save
    is instant, and the bar would clutter the output of every command that builds.
    """
    from transformers.utils import logging as hf_logging

    bar_was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(str(out_dir), safe_serialization=True)
    finally:
        if bar_was_enabled:
            hf_logging.enable_progress_bar()
