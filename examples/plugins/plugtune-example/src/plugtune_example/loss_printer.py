"""The ``loss_printer`` trainer callback.

Callbacks are factories returning a ``transformers.TrainerCallback``. transformers is
imported inside the factory, when a run builds the callback, never when plugtune
imports this plugin: ``plugtune --help`` must not pay for it.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def loss_printer() -> Any:
    """Log the training loss at every logging step."""
    from transformers import TrainerCallback

    class LossPrinter(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None,
                   **kwargs: Any) -> None:
            if logs and "loss" in logs:
                log.info("step %d: loss %.4f", state.global_step, logs["loss"])

    return LossPrinter()
