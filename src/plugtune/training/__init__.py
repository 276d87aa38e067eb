"""Training: what every trainer plugin shares — the documented entry points a
trainer plugin (built-in or a third party's) builds on. Imports torch and transformers
only when a run starts.

- :func:`train` runs a config's trainer plugin (what ``plugtune train`` calls);
- :func:`encoded_rows` turns the run's data into encoded (or packed) rows and their
  collator, :func:`train_causal_lm` trains a causal LM on them with transformers'
  ``Trainer`` (the loop ``sft`` and ``pt`` share); a trainer with a ``rows(run)``
  method (:class:`PreparesRows`) can train from a ``data.prepared`` folder;
- :func:`trainable_model` loads the run's model made trainable by its ``peft`` method;
- :func:`run_callbacks` are every trainer's callbacks (``trainer_log.jsonl``, the
  checkpoint marker, the progress bar, a checkpoint then a stop on SIGINT/SIGTERM, the
  configured ones), and :func:`train_and_save` trains any transformers/TRL trainer,
  resumes, evaluates and saves the plugtune way;
- :func:`prompt_rows` renders records as prompts with their reward columns (online RL);
- :func:`find_adapter` is the adapter a run trained (or names), what an ``exporters``
  plugin deploys, as the built-in formats do;
- :func:`checkpointing_enabled` says whether the run checkpoints activations (a method
  that freezes the embeddings must then make their outputs require grad).

Import these names from here: the modules behind them are the library's own, in
sub-packages — :mod:`.run` (a run from its config to its saved weights), :mod:`.rows`
(the rows trainers learn from) and :mod:`.speed` (cheaper steps, the same numbers).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Imported on first use: a plugin module that imports one helper (``prompt_rows``, say)
# must not pull in the whole training stack at ``plugtune --help``. Each name's module.
_EXPORTS = {
    "CausalLMData": "plugtune.training.run.causal_lm",
    "PreparesRows": "plugtune.core.interfaces",
    "RewardColumns": "plugtune.training.rows.prompts",
    "checkpointing_enabled": "plugtune.training.run.arguments",
    "encoded_rows": "plugtune.training.rows.encoded",
    "find_adapter": "plugtune.deploy.export",
    "prompt_rows": "plugtune.training.rows.prompts",
    "run_callbacks": "plugtune.training.run.causal_lm",
    "train": "plugtune.training.run.train",
    "train_and_save": "plugtune.training.run.causal_lm",
    "train_causal_lm": "plugtune.training.run.causal_lm",
    "trainable_model": "plugtune.training.run.finetuning",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'plugtune.training' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
