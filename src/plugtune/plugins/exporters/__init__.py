"""Built-in export formats (``plugtune export --format NAME``): merged safetensors and GGUF.
Another format (GPTQ, AWQ, MLX, …) is an ``exporters`` plugin of the same shape."""

from __future__ import annotations

from plugtune.core.hookspecs import hookimpl
from plugtune.core.interfaces import Register


@hookimpl
def register_exporters(register: Register) -> None:
    register("safetensors", "plugtune.plugins.exporters.safetensors:SafetensorsExporter",
             doc="Merged weights as safetensors shards (transformers, vLLM, TGI).")
    register("gguf", "plugtune.plugins.exporters.gguf:GGUFExporter",
             doc="A GGUF file for llama.cpp (quantized, or the LoRA alone), with an "
                 "Ollama Modelfile on request.")
