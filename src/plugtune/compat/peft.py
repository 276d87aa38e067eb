"""The reaches into PEFT's behaviour (checked against PEFT 0.21.2).

Each entry names what it relies on; tests/test_compat_contracts.py pins each one.
"""

from __future__ import annotations

from typing import Any


def starts_as_identity(adapter_config: Any) -> bool:
    """Whether a new adapter of ``adapter_config`` changes nothing until it trains: a
    ``LoraConfig`` with PEFT's default ``init_lora_weights=True`` initialises every
    ``lora_B`` to zero, so its branch adds exactly 0.0 — unless it is DoRA, whose
    magnitude division is not bit-exact."""
    from peft import LoraConfig

    return (isinstance(adapter_config, LoraConfig) and adapter_config.init_lora_weights is True
            and not adapter_config.use_dora)
