"""The run's output folder: refuse to clobber a run, and write what a run leaves behind
besides the weights (the resolved config, the final metrics)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from plugtune.core.config import RunConfig
from plugtune.core.errors import ConfigError

RUN_CONFIG = "run_config.yaml"
RESULTS = "all_results.json"
LOG_FILE = "trainer_log.jsonl"
REWARD_PLOT = "training_rewards.png"


def prepare_output_dir(config: RunConfig, *, resume: bool) -> Path:
    """The output folder, ready for this run.

    A folder that already holds a run is an error unless the run resumes it or
    ``output.overwrite`` is set; overwriting removes only a previous plugtune run
    (recognised by its ``run_config.yaml``), never an unrelated folder.
    """
    output_dir = Path(config.output.dir)
    occupied = output_dir.is_dir() and any(output_dir.iterdir())
    if occupied and not resume:
        if not config.output.overwrite:
            raise ConfigError(
                f"output.dir: {output_dir} is not empty; resume it (--resume), "
                "set output.overwrite: true, or choose another folder"
            )
        if not (output_dir / RUN_CONFIG).is_file():
            raise ConfigError(
                f"output.overwrite: {output_dir} holds no plugtune run ({RUN_CONFIG} missing); "
                "refusing to delete it"
            )
        shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    return output_dir


def write_run_config(config: RunConfig, output_dir: Path) -> None:
    data = config.model_dump(mode="json")
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    (output_dir / RUN_CONFIG).write_text(text, encoding="utf-8")


def write_results(metrics: dict[str, Any], output_dir: Path) -> None:
    text = json.dumps(metrics, indent=2, sort_keys=True)
    (output_dir / RESULTS).write_text(text + "\n", encoding="utf-8")
