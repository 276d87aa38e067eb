"""The ``safetensors`` export: the adapter merged into its base, saved as shards (see
:func:`plugtune.deploy.export.export_model`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from plugtune.core.config import RunConfig
from plugtune.core.session import Session


class SafetensorsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_shard_size: str = "2GB"
    quantize: Literal[4, 8] | None = None  # bitsandbytes bits, None: full precision
    keep_tokenizer_template: bool = False


class SafetensorsExporter:
    """Merged weights that transformers, vLLM and TGI load as they are."""

    Options = SafetensorsOptions

    def __init__(self, **options: Any) -> None:
        self.options = SafetensorsOptions(**options)

    def export(self, config: RunConfig, session: Session, *, adapter: str | None,
               to: Path | None) -> Path:
        from plugtune.deploy.export import export_model

        return export_model(config, session, adapter=adapter, to=to,
                            max_shard_size=self.options.max_shard_size,
                            quantize=self.options.quantize,
                            keep_tokenizer_template=self.options.keep_tokenizer_template)
