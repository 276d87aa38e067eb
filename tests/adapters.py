"""A LoRA adapter that changes the model's output, for tests that merge, serve or convert
one. peft initialises ``lora_B`` to zero, which makes an adapter a no-op that any broken
merge passes, so its B matrices are drawn at random (seeded)."""

from __future__ import annotations

from pathlib import Path


def random_lora(base: str | Path, folder: Path, *, r: int = 4, alpha: int = 8,
                std: float = 0.1, seed: int = 0) -> Path:
    """A LoRA on every linear layer of ``base`` (a path or ``tiny://`` ref), saved in
    ``folder``, its ``lora_B`` weights normal with ``std``."""
    import torch
    from peft import LoraConfig, get_peft_model

    from plugtune.core.config import ModelConfig
    from plugtune.models import load_causal_lm

    model = get_peft_model(
        load_causal_lm(ModelConfig(path=str(base))),
        LoraConfig(r=r, lora_alpha=alpha, target_modules="all-linear", task_type="CAUSAL_LM"),
    )
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * std)
    model.save_pretrained(folder)
    return folder
