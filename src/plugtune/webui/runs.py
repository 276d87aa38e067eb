"""The runs folder: every run is a sub-folder (its ``output.dir``), found again from
disk after a reload or a restart, launched as its own ``plugtune train`` process.

The run folder holds what ``plugtune train`` writes and nothing else; what the web UI
keeps about a run (the config it launched, with ``output.dir`` pointing at the run
folder, its process record and log) lives in ``<runs>/.webui/<name>/``. A launch refuses
a folder another run is writing or one that already holds a run (resume it instead); a
stopped run resumes from its newest complete checkpoint through ``plugtune train
--resume``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from plugtune.core.config import read_config_file
from plugtune.core.errors import ConfigError
from plugtune.folder_lock import FolderBusy, check_free
from plugtune.webui.processes import FAILED, RUNNING, Job

CONFIG_FILE = "webui_config.yaml"
META = ".webui"
TRAIN_LOG = "trainer_log.jsonl"
RESULTS = "all_results.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class RunConflict(ConfigError):
    """The folder is being written by a run, or holds one already (HTTP 409)."""


@dataclass(frozen=True)
class RunStore:
    """The runs under ``root``."""

    root: Path

    def folder(self, name: str) -> Path:
        """The folder of run ``name``; a name that is not a plain folder name (``..``,
        slashes) is refused, so no request reaches outside the runs folder."""
        if not _NAME.match(name) or name in (".", ".."):
            raise ConfigError(f"run name {name!r}: use letters, digits, '.', '_' and '-'")
        return self.root / name

    def meta(self, name: str) -> Path:
        """Where the web UI keeps its own files about run ``name``."""
        return self.root / META / self.folder(name).name

    def job(self, name: str, kind: str = "train") -> Job:
        return Job(self.meta(name), kind)

    def names(self) -> list[str]:
        """Every run, newest first: launched here, or trained into the runs folder by
        ``plugtune train`` (a ``run_config.yaml``)."""
        launched = self.root / META
        paths = [*self.root.glob("*/run_config.yaml"), *launched.glob(f"*/{CONFIG_FILE}")]
        found = {path.parent.name: path for path in paths if _NAME.match(path.parent.name)}
        return sorted(found, key=lambda name: _modified(found[name]), reverse=True)

    def launch(self, name: str, config: dict[str, Any], *, processes: int = 1) -> None:
        """Start training run ``name`` on ``config`` (already checked by the form)."""
        folder = self.folder(name)
        self._refuse_busy(name)  # before its folder exists too: a run may be starting
        if folder.is_dir() and any(folder.iterdir()):
            raise RunConflict(f"run {name!r} exists already ({folder}); resume it or "
                              "choose another name")
        meta = self.meta(name)
        meta.mkdir(parents=True, exist_ok=True)
        config = {**config, "output": {**config.get("output", {}), "dir": str(folder)}}
        text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
        (meta / CONFIG_FILE).write_text(text, encoding="utf-8")
        self._start(meta, processes, resume=False)

    def resume(self, name: str, *, processes: int = 1) -> None:
        """Continue a stopped or crashed run from its newest complete checkpoint."""
        meta = self.meta(name)
        if not (meta / CONFIG_FILE).is_file():
            raise ConfigError(f"run {name!r} was not launched here (no {CONFIG_FILE})")
        self._refuse_busy(name)
        self._start(meta, processes, resume=True)

    def _refuse_busy(self, name: str) -> None:
        """A run this server started, or any other live writer of the folder (a
        ``plugtune train`` in a terminal, another server's run)."""
        if self.job(name).status() == RUNNING:
            raise RunConflict(f"run {name!r} is running: two runs may not write one folder")
        try:
            check_free(self.folder(name))
        except FolderBusy as busy:
            raise RunConflict(f"run {name!r}: {busy}") from None

    @staticmethod
    def _start(meta: Path, processes: int, *, resume: bool) -> None:
        train = ["plugtune", "train", str(meta / CONFIG_FILE), *(["--resume"] * resume)]
        launcher = ["accelerate.commands.launch", "--num_processes", str(processes), "-m"]
        Job(meta, "train").start([*launcher, *train] if processes > 1 else train)

    def stop(self, name: str) -> bool:
        return self.job(name).stop()

    def summary(self, name: str) -> dict[str, Any]:
        """What the runs list shows: status, config, and a failed run's last lines."""
        folder = self.folder(name)
        if name not in self.names():
            raise ConfigError(f"no run {name!r} in {self.root}")
        job = self.job(name)
        status = job.status() or "finished"
        if status == FAILED and (folder / RESULTS).is_file():
            status = "finished"  # started by an earlier server: its exit code is unknown
        config = self.config(name)
        return {
            "name": name, "status": status, "config": config,
            "max_steps": (config.get("training") or {}).get("max_steps", -1),
            "has_adapter": (folder / "adapter_config.json").is_file(),
            "has_retriever": config.get("retriever") is not None,
            "checkpoints": [p.name for p in sorted(folder.glob("checkpoint-*"), key=_step)],
            "last_lines": job.tail() if status == FAILED else [],
        }

    def config(self, name: str) -> dict[str, Any]:
        """The run's config: as launched here, else as ``plugtune train`` wrote it."""
        for path in (self.meta(name) / CONFIG_FILE, self.folder(name) / "run_config.yaml"):
            if path.is_file():
                return read_config_file(path)
        return {}

    def file(self, name: str, relative: str) -> Path:
        """A file inside run ``name``; anything resolving outside it is refused."""
        folder = self.folder(name).resolve()
        path = (folder / relative).resolve()
        if not path.is_relative_to(folder) or not path.is_file():
            raise ConfigError(f"no file {relative!r} in run {name!r}")
        return path


def _step(checkpoint: Path) -> int:
    number = checkpoint.name.rpartition("-")[2]
    return int(number) if number.isdigit() else -1


def _modified(path: Path) -> float:
    return path.stat().st_mtime
