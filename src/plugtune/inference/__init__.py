"""Generating with a trained model: load the run's backend, answer a split, score it.

``load_backend(config, session)`` gives a loaded :class:`~plugtune.core.interfaces.Backend`
(``generate``, ``stream``, ``use_adapter``); ``predict(config, session)`` answers every
record of a split and computes ``evaluation.metrics`` (docs/inference.md). Importing this
package imports no torch.
"""

from __future__ import annotations

from plugtune.inference.predict import (
    Prediction,
    PredictionResult,
    load_backend,
    predict,
)

__all__ = ["Prediction", "PredictionResult", "load_backend", "predict"]
