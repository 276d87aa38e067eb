"""Built-in fine-tuning methods (``peft.type``): lora, dora, qlora, freeze and full."""

from __future__ import annotations

from plugtune.core.hookspecs import hookimpl
from plugtune.core.interfaces import Register
from plugtune.plugins.peft.freeze import Freeze
from plugtune.plugins.peft.full import Full
from plugtune.plugins.peft.lora import DoRA, LoRA, QLoRA


@hookimpl
def register_peft(register: Register) -> None:
    for method in (LoRA, DoRA, QLoRA, Freeze, Full):
        register(method.name, method)
