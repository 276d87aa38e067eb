"""Built-in inference backends."""

from __future__ import annotations

from typing import Any

from plugtune.core.hookspecs import hookimpl
from plugtune.plugins.backends.openai_http import OpenAIBackend, OpenAIOptions
from plugtune.plugins.backends.transformers_backend import (
    TransformersBackend,
    TransformersOptions,
)
from plugtune.plugins.backends.vllm_backend import VLLMBackend, VLLMOptions


@hookimpl
def register_backends(register: Any) -> None:
    register("transformers", TransformersBackend, options=TransformersOptions)
    register("openai", OpenAIBackend, options=OpenAIOptions)
    register("vllm", VLLMBackend, options=VLLMOptions)
    register("llamacpp", "plugtune.plugins.backends.llamacpp_backend:LlamaCppBackend",
             doc="llama.cpp on a GGUF file (plugtune export --format gguf): streamed, "
                 "stopped per request, with a GGUF LoRA.")
