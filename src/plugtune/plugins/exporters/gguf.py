"""The ``gguf`` export: llama.cpp's file format (see :mod:`plugtune.deploy.gguf_export`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from plugtune.core.config import RunConfig
from plugtune.core.session import Session


class GGUFOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quant: str = Field("f16", description="f32, f16, bf16, q8_0 (converter) or q4_k_m, "
                                          "q4_0, … (llama.cpp's quantizer).")
    lora: bool = Field(False, description="The adapter alone, as a GGUF LoRA.")
    ollama: bool = Field(False, description="Also write an Ollama Modelfile.")
    pre_tokenizer: str | None = Field(
        None, description="llama.cpp's pre-tokenizer name for a tokenizer it has not hashed.")
    keep_tokenizer_template: bool = False


class GGUFExporter:
    """A GGUF file for llama.cpp, llama-cpp-python, Ollama and LM Studio."""

    Options = GGUFOptions

    def __init__(self, **options: Any) -> None:
        self.options = GGUFOptions(**options)

    def check(self) -> None:
        """Refuse now what would fail before any work (a quant type or its runtime, the
        flags together, llama.cpp's converter missing): the web UI asks first."""
        from plugtune.deploy.gguf_export import GGUFRequest, check_request

        check_request(GGUFRequest(**self.options.model_dump()))

    def export(self, config: RunConfig, session: Session, *, adapter: str | None,
               to: Path | None) -> Path:
        from plugtune.deploy.gguf_export import GGUFRequest, export_gguf

        request = GGUFRequest(**self.options.model_dump())
        return export_gguf(config, session, request, adapter=adapter, to=to)
