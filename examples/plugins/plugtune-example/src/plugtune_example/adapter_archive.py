"""An export format (``plugtune export --format adapter_zip``): the run's LoRA adapter,
unmerged, as one zip file with a model card naming its base model and chat template.

Demonstrates an ``exporters`` plugin: an object with ``export(config, session, *,
adapter, to)`` that writes into ``to`` (absent or empty) and returns it, options from
its ``Options`` model (``--option compression=stored`` on the command line), and the
library's ``find_adapter`` to locate the adapter the run trained, as the built-in
formats do.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from plugtune import ConfigError, RunConfig, Session
from plugtune.training import find_adapter

ARCHIVE = "adapter.zip"
METHODS = {"deflated": zipfile.ZIP_DEFLATED, "stored": zipfile.ZIP_STORED}


class ArchiveOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    compression: Literal["deflated", "stored"] = "deflated"


class AdapterArchive:
    """The run's LoRA adapter, unmerged, in one zip file with a model card.

    The adapter's files and a ``MODEL_CARD.md`` go into ``adapter.zip``."""

    Options = ArchiveOptions

    def __init__(self, **options: Any) -> None:
        self.options = ArchiveOptions(**options)

    def export(self, config: RunConfig, session: Session, *, adapter: str | None,
               to: Path | None) -> Path:
        folder = Path(find_adapter(config, adapter))
        target = to if to is not None else Path(config.output.dir) / "adapter-zip"
        if target.exists() and any(target.iterdir()):
            raise ConfigError(f"adapter_zip: {target} is not empty")
        target.mkdir(parents=True, exist_ok=True)
        card = (f"# LoRA adapter\n\nBase model: {config.model.path}\n"
                f"Chat template: {getattr(config.template, 'name', config.template)}\n")
        method = METHODS[self.options.compression]
        with zipfile.ZipFile(target / ARCHIVE, "w", compression=method) as archive:
            for path in sorted(p for p in folder.glob("adapter*") if p.is_file()):
                archive.write(path, path.name)
            archive.writestr("MODEL_CARD.md", card)
        return target
