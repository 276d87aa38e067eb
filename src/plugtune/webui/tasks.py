"""Predict for a trained run, and what every task on one shares (export is in
:mod:`plugtune.webui.exports`): each a ``plugtune`` process of its own writing into a
sub-folder of the run (``predict/``, an export format's own), so its results stay beside
the run and are found again after a reload."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from plugtune.core.errors import ConfigError
from plugtune.webui.processes import RUNNING, Job
from plugtune.webui.runs import RunStore

USE_CONFIG = "webui_use.yaml"
SPLITS = ("test", "eval", "train")
SAMPLE_ROWS = 50  # per-sample scores shown on the page (the file has them all)


def use_config(store: RunStore, name: str) -> Path:
    """The run's config with its trained adapter as ``model.adapter`` and its folder as
    ``output.dir``: what predict, export and chat load (the base model plus this run's
    weights; an export's default folder inside the run's, whatever folder the config
    trained into before it was found here)."""
    folder = store.folder(name)
    if not (folder / "adapter_config.json").is_file():
        raise ConfigError(f"run {name!r} has no trained adapter yet")
    config = store.config(name)
    config["model"] = {**(config.get("model") or {}), "adapter": str(folder)}
    config["output"] = {**(config.get("output") or {}), "dir": str(folder)}
    path = store.meta(name) / USE_CONFIG
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def start_predict(store: RunStore, name: str, split: str, limit: int | None) -> None:
    """``plugtune predict`` on one split of the run's data, scored by its metrics."""
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}")
    job = idle_job(store, name, "predict")
    out = store.folder(name) / "predict" / "generated_predictions.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    arguments = ["plugtune", "predict", str(use_config(store, name)), "--split", split,
                 "--out", str(out), "--overwrite"]
    job.start([*arguments, *(["--limit", str(limit)] if limit else [])])


def idle_job(store: RunStore, name: str, kind: str) -> Job:
    """The run's ``kind`` task, refused while one is running (they write one folder)."""
    job = store.job(name, kind)
    if job.status() == RUNNING:
        raise ConfigError(f"run {name!r}: a {kind} is running already")
    return job


def task_state(store: RunStore, name: str, kind: str) -> dict[str, Any]:
    """A task's status, its log's last lines, and predict's results and samples."""
    job = store.job(name, kind)
    state: dict[str, Any] = {"status": job.status(), "log": job.tail(12)}
    results = store.folder(name) / "predict" / "predict_results.json"
    if kind == "predict" and state["status"] == "finished" and results.is_file():
        state["results"] = json.loads(results.read_text(encoding="utf-8"))
        state["samples"] = _first_lines(results.parent / "predict_samples.jsonl")
    return state


def _first_lines(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for _, line in zip(range(SAMPLE_ROWS), handle, strict=False)]
