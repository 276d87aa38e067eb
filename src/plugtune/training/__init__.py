"""Training: the loop, model preparation, arguments, checkpoints and outputs that the
trainer plugins share. Imports torch and transformers only when a run starts."""

from __future__ import annotations

from plugtune.training.run import train

__all__ = ["train"]
