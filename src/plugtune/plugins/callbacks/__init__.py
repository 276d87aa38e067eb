"""Built-in trainer callbacks."""

from __future__ import annotations

from typing import Any

from plugtune.core.hookspecs import hookimpl
from plugtune.plugins.callbacks.early_stopping import EarlyStoppingOptions, early_stopping
from plugtune.plugins.callbacks.sample_generations import (
    SampleGenerationsOptions,
    sample_generations,
)


@hookimpl
def register_callbacks(register: Any) -> None:
    register("early_stopping", early_stopping, options=EarlyStoppingOptions)
    register("sample_generations", sample_generations, options=SampleGenerationsOptions)
