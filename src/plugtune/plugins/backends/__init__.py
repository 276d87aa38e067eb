"""Built-in inference backends."""

from __future__ import annotations

from typing import Any

from plugtune.core.hookspecs import hookimpl
from plugtune.plugins.backends.openai_http import OpenAIBackend, OpenAIOptions
from plugtune.plugins.backends.transformers_backend import (
    TransformersBackend,
    TransformersOptions,
)


@hookimpl
def register_backends(register: Any) -> None:
    register("transformers", TransformersBackend, options=TransformersOptions)
    register("openai", OpenAIBackend, options=OpenAIOptions)
