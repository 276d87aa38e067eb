"""Built-in trainers: supervised fine-tuning and continued pretraining."""

from __future__ import annotations

from typing import Any

from plugtune.core.hookspecs import hookimpl
from plugtune.plugins.trainers.pt import Pretraining, PretrainingOptions
from plugtune.plugins.trainers.sft import SupervisedFineTuning


@hookimpl
def register_trainers(register: Any) -> None:
    register("sft", SupervisedFineTuning)
    register("pt", Pretraining, options=PretrainingOptions)
