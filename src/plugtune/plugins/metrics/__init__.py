"""Built-in metrics."""

from __future__ import annotations

from typing import Any

from plugtune.core.hookspecs import hookimpl
from plugtune.plugins.metrics.accuracy import Accuracy
from plugtune.plugins.metrics.contains import contains
from plugtune.plugins.metrics.evaluate_module import EvaluateModule
from plugtune.plugins.metrics.exact_match import exact_match
from plugtune.plugins.metrics.meteor import Meteor
from plugtune.plugins.metrics.perplexity import Perplexity
from plugtune.plugins.metrics.rouge import Rouge
from plugtune.plugins.metrics.sacrebleu_metrics import Bleu, Chrf, Ter


@hookimpl
def register_metrics(register: Any) -> None:
    register("exact_match", exact_match)
    register("contains", contains)
    # Classes with options (the libraries they use are imported on first score): built
    # with the config's options; called for corpus scores, .score_samples() per sample.
    for metric in (Accuracy, Bleu, Chrf, Ter, Rouge, Meteor):
        register(metric.name, metric)
    # Perplexity scores with the model (a ModelMetric); evaluate
    # wraps a Hugging Face evaluate module from disk.
    register(Perplexity.name, Perplexity)
    register(EvaluateModule.name, EvaluateModule)
    register("judge", "plugtune.plugins.metrics.judge:JudgeMetric",
             doc="A model (any backend) grades each prediction against a rubric.")
