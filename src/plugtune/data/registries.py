"""Dataset registries, read unchanged: LLaMA-Factory's ``dataset_info.json`` and the
``present.json`` form (name → ``{"train", "dev", "test"}`` paths).

An entry is validated when it is used, so one odd entry (say, from a newer LLaMA-Factory)
does not block the others; but a key we do not know is an error with a suggestion, never
ignored: LLaMA-Factory silently ignores ``"format"`` where ``"formatting"`` was meant.
Paths are relative to the registry's folder (LLaMA-Factory's ``dataset_dir``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from plugtune.core.errors import ConfigError
from plugtune.core.validation import did_you_mean, validate_model

log = logging.getLogger(__name__)

Part = Literal["train", "dev", "test"]
PARTS: tuple[Part, ...] = ("train", "dev", "test")
HUBS = {
    "hf_hub_url": "the Hugging Face hub",
    "ms_hub_url": "the ModelScope hub",
    "om_hub_url": "the Modelers hub",
    "script_url": "a loading script",
    "cloud_file_name": "cloud storage",
}


class LlamaFactoryEntry(BaseModel):
    """One entry of ``dataset_info.json``, with LLaMA-Factory's defaults."""

    model_config = ConfigDict(extra="forbid")

    hf_hub_url: str | None = None
    ms_hub_url: str | None = None
    om_hub_url: str | None = None
    script_url: str | None = None
    cloud_file_name: str | None = None
    file_name: str | None = None
    formatting: str = "alpaca"
    ranking: bool = False
    subset: str | None = None
    split: str = "train"
    folder: str | None = None
    num_samples: int | None = Field(None, gt=0)
    columns: dict[str, str | None] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)


class PresentEntry(BaseModel):
    """One entry of ``present.json``: a path per part, at least one."""

    model_config = ConfigDict(extra="forbid")

    train: str | None = None
    dev: str | None = None
    test: str | None = None


@dataclass(frozen=True)
class DatasetEntry:
    """A registry entry resolved against its folder.

    ``formatting`` is None when the registry does not say (present.json): the format is
    then detected from the data. ``split`` picks the split of a saved ``DatasetDict``.
    """

    name: str
    registry: Path
    parts: Mapping[str, Path]
    formatting: str | None = None
    ranking: bool = False
    columns: Mapping[str, str | None] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    split: str = "train"
    num_samples: int | None = None

    def path(self, part: Part = "train") -> Path:
        if part not in self.parts:
            have = ", ".join(self.parts) or "none"
            raise ConfigError(f"{self.registry}: dataset {self.name!r} has no {part} part ({have})")
        return self.parts[part]


class DatasetRegistry:
    """The named datasets of one registry file."""

    def __init__(self, path: Path, raw: Mapping[str, Any], kind: str, base: Path) -> None:
        self.path, self.kind, self.base = path, kind, base
        self._raw = raw

    def names(self) -> list[str]:
        return list(self._raw)

    def __contains__(self, name: object) -> bool:
        return name in self._raw

    def get(self, name: str) -> DatasetEntry:
        """The entry called ``name``, validated; hub-only entries are errors (offline)."""
        if name not in self._raw:
            hint = did_you_mean(name, self._raw)
            raise ConfigError(f"{self.path}: no dataset named {name!r}{hint}")
        raw = self._raw[name]
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{self.path}: dataset {name!r} must be an object")
        if self.kind == "present":
            return self._present(name, raw)
        return self._llamafactory(name, raw)

    def _present(self, name: str, raw: Mapping[str, Any]) -> DatasetEntry:
        entry = validate_model(PresentEntry, raw, where=f"{self.path}: dataset {name!r}")
        parts = {part: self.base / value for part in PARTS if (value := getattr(entry, part))}
        if not parts:
            raise ConfigError(f"{self.path}: dataset {name!r} names no train, dev or test file")
        return DatasetEntry(name, self.path, parts)

    def _llamafactory(self, name: str, raw: Mapping[str, Any]) -> DatasetEntry:
        where = f"{self.path}: dataset {name!r}"
        entry = validate_model(LlamaFactoryEntry, raw, where=where)
        if entry.file_name is None:
            hub = next((key for key in HUBS if getattr(entry, key)), None)
            if hub is None:
                raise ConfigError(f"{where}: needs a file_name (or a hub URL)")
            raise ConfigError(
                f"{where}: lives on {HUBS[hub]} ({getattr(entry, hub)}) and is not available "
                f"offline; download it and give the entry a local file_name"
            )
        path = self.base / entry.file_name
        if entry.folder:
            path = path / entry.folder
        if entry.subset:
            log.warning("%s: subset %r only selects a hub config; ignored", where, entry.subset)
        return DatasetEntry(
            name=name,
            registry=self.path,
            parts={"train": path},
            formatting=entry.formatting,
            ranking=entry.ranking,
            columns=entry.columns,
            tags=entry.tags,
            split=entry.split,
            num_samples=entry.num_samples,
        )


def read_registry(path: str | Path, *, dataset_dir: str | Path | None = None) -> DatasetRegistry:
    """``dataset_info.json`` or ``present.json`` (told apart by name, else by content:
    entries holding only train/dev/test keys are the present form)."""
    source = Path(path)
    try:
        raw = json.loads(source.read_text(encoding="utf-8-sig"))
    except OSError as error:
        problem = f"cannot read the dataset registry ({error.strerror})"
        raise ConfigError(f"{source}: {problem}") from None
    except json.JSONDecodeError as error:
        where = f"{source}:{error.lineno}:{error.colno}"
        raise ConfigError(f"{where}: the dataset registry is not valid JSON: {error.msg}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a dataset registry must be an object of named datasets")
    base = Path(dataset_dir) if dataset_dir is not None else source.parent
    return DatasetRegistry(source, raw, _kind(source, raw), base)


def _kind(path: Path, raw: Mapping[str, Any]) -> str:
    if path.name == "present.json":
        return "present"
    if path.name == "dataset_info.json" or not raw:
        return "llamafactory"
    entries = [entry for entry in raw.values() if isinstance(entry, Mapping)]
    is_present = bool(entries) and all(set(entry) <= set(PARTS) for entry in entries)
    return "present" if is_present else "llamafactory"
