"""Any Hugging Face ``evaluate`` module already on disk, as a plugtune metric.

``path`` is a local module (a folder holding ``<folder name>.py``, or the ``.py`` file)
or ``module:Class`` / ``file.py:Class`` naming an ``evaluate.Metric`` subclass. Hub
names (``bleu``) are not accepted: loading them needs network. The module's numeric
results become the scores (a list of numbers ``k: [a, b]`` gives ``k-1``, ``k-2``);
other values are dropped. evaluate writes under ``$HF_HOME``: point it somewhere
writable.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from plugtune.core.errors import ConfigError
from plugtune.core.importing import import_object


class EvaluateOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        description="A local evaluate module (folder or .py) or module:Class of an "
        "evaluate.Metric subclass."
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments of the module's compute()."
    )


class EvaluateModule:
    """An ``evaluate`` module's ``compute(predictions, references, **kwargs)``."""

    name = "evaluate"
    Options = EvaluateOptions

    def __init__(self, path: str, kwargs: dict[str, Any] | None = None) -> None:
        self.path, self.kwargs = path, dict(kwargs or {})
        self._module: Any = None

    def load(self) -> Any:
        """The evaluation module (loaded once, on first use)."""
        if self._module is None:
            self._module = _load(self.path)
        return self._module

    def __call__(self, predictions: Sequence[str], references: Sequence[Any]) -> dict[str, float]:
        result = self.load().compute(
            predictions=list(predictions), references=list(references), **self.kwargs
        )
        return numeric_scores(result or {})


def _load(path: str) -> Any:
    try:
        import evaluate
    except ImportError as error:
        raise ConfigError("metric evaluate needs evaluate: pip install evaluate") from error
    location = Path(path).expanduser()
    if ":" in path and not location.exists():
        cls = import_object(path)
        if not (isinstance(cls, type) and issubclass(cls, evaluate.EvaluationModule)):
            raise ConfigError(f"evaluate: {path} is not an evaluate.Metric subclass")
        return cls()
    if not location.exists():
        raise ConfigError(
            f"evaluate: {path} does not exist. Give a local evaluate module (a folder with "
            "<folder name>.py, or the .py file) or module:Class of an evaluate.Metric "
            "subclass; hub names such as 'bleu' need network to download"
        )
    return evaluate.load(str(location))


def numeric_scores(result: dict[str, Any]) -> dict[str, float]:
    """The numbers of an evaluate result; lists of numbers as ``key-1``, ``key-2``, …"""
    scores: dict[str, float] = {}
    for key, value in result.items():
        if isinstance(value, Real):
            scores[key] = float(value)
        elif isinstance(value, list | tuple) and all(isinstance(v, Real) for v in value):
            scores.update({f"{key}-{i}": float(v) for i, v in enumerate(value, start=1)})
    return scores
