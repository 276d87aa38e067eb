"""The ``example_yaml`` config reader: another tool's config file, run by plugtune.

Every ``plugtune`` command and :func:`plugtune.load_config` ask the config readers
about a file that is not in plugtune's own format; the first that ``claims`` it
``read``s it into plugtune's sections, with notes on keys whose meaning changes.
``plugtune config convert FILE`` prints the result. This reader takes a small made-up
format::

    example_run:
      model: tiny://qwen2
      data: qa.jsonl     # a file of {"q", "a"} rows (this package's qa format)
      steps: 100
      lr: 2.0e-4

Other top-level keys are plugtune sections (``output:``, ``template:``, …), kept as
they are, so a file can say more than the format knows; plugtune validates the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import ReadConfig
from plugtune.core.validation import validate_model

SECTION = "example_run"


class ExampleRun(BaseModel):
    """The ``example_run:`` mapping."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    data: str = Field(min_length=1, description="A file of {q, a} rows.")
    steps: int | None = Field(None, gt=0)
    lr: float | None = Field(None, gt=0)


class ExampleYamlReader:
    """Files with an example_run: mapping (model, data, steps, lr) read as plugtune runs."""

    def claims(self, data: Mapping[str, Any]) -> bool:
        return isinstance(data.get(SECTION), Mapping)

    def read(self, data: Mapping[str, Any], source: str) -> ReadConfig:
        run = validate_model(ExampleRun, data[SECTION], where=f"{source}: {SECTION}")
        config: dict[str, Any] = {key: value for key, value in data.items() if key != SECTION}
        notes = []
        _merge(config, "model", {"path": run.model}, source)
        _merge(config, "data", {"train": [{"path": run.data, "format": "qa"}]}, source)
        training: dict[str, Any] = {}
        if run.steps is not None:
            training["max_steps"] = run.steps
            notes.append(f"{SECTION}.steps is training.max_steps: the run stops after "
                         f"{run.steps} optimizer steps, whatever training.num_train_epochs says")
        if run.lr is not None:
            training["learning_rate"] = run.lr
        _merge(config, "training", training, source)
        notes.append(f"{SECTION}.data is read with the qa format ({{\"q\", \"a\"}} rows), "
                     "relative to the working directory")
        return ReadConfig(config, notes)


def _merge(config: dict[str, Any], section: str, values: dict[str, Any], source: str) -> None:
    """``values`` over the file's own ``section`` (example_run wins on a clash)."""
    if not values:
        return
    given = config.get(section) or {}
    if not isinstance(given, Mapping):
        raise ConfigError(f"{source}: {section}: expected a mapping next to {SECTION}, got "
                          f"{type(given).__name__}")
    config[section] = {**given, **values}
