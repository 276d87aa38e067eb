"""What the ppo loop reads from the ``training`` section: it runs its own loop, not
transformers' ``Trainer``, so a key it would silently ignore is an error instead."""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass

from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import TrainingRun
from plugtune.training.run.arguments import checkpointing_enabled

# The ``training`` keys ppo reads besides the declared ones, with their defaults.
EXTRA_TRAINING = {
    "save_strategy": "steps", "save_steps": 500, "report_to": None,
    "max_grad_norm": 1.0, "weight_decay": 0.0, "lr_scheduler_type": "linear",
}


@dataclass
class Settings:
    """What ppo reads from the ``training`` section."""

    learning_rate: float
    batch_size: int
    max_steps: int
    seed: int
    logging_steps: int
    save_steps: int  # 0: no checkpoints
    tensorboard: bool
    max_grad_norm: float
    weight_decay: float
    lr_scheduler_type: str
    gradient_checkpointing: bool


def training_settings(run: TrainingRun, num_prompts: int) -> Settings:
    """The ``training`` section as ppo uses it; a key it would ignore is an error."""
    training = run.config.training
    extra = dict(training.model_extra or {})
    unknown = sorted(set(extra) - set(EXTRA_TRAINING))
    if unknown:
        raise ConfigError(
            f"training.{unknown[0]}: not used by the ppo trainer, which runs its own loop; "
            f"it reads learning_rate, per_device_train_batch_size, max_steps, "
            f"num_train_epochs, seed, logging_steps, gradient_checkpointing and "
            f"{', '.join(EXTRA_TRAINING)}"
        )
    if training.gradient_accumulation_steps != 1:
        raise ConfigError(
            "training.gradient_accumulation_steps: ppo optimises in mini-batches of "
            "trainer.mini_batch_size instead; leave it at 1"
        )
    if training.bf16:
        raise ConfigError("training.bf16: ppo runs in the model's dtype; set model.dtype instead")
    if run.resume or training.resume_from_checkpoint:
        raise ConfigError(
            "resume: ppo checkpoints hold the adapter and value head only (no optimizer "
            "state); start a new run with model.adapter set to a checkpoint folder instead"
        )
    values = {**EXTRA_TRAINING, **extra}
    if values["lr_scheduler_type"] not in ("linear", "constant"):
        raise ConfigError(
            f"training.lr_scheduler_type: ppo has linear and constant, not "
            f"{values['lr_scheduler_type']!r}"
        )
    batch = training.per_device_train_batch_size
    if training.max_steps > 0:
        steps = training.max_steps
    else:
        steps = math.ceil(training.num_train_epochs * math.ceil(num_prompts / batch))
    strategy = values["save_strategy"]
    report_to = values["report_to"]
    if report_to is None:
        report_to = ["tensorboard"] if importlib.util.find_spec("tensorboard") else []
    report_to = [report_to] if isinstance(report_to, str) else list(report_to)
    return Settings(
        learning_rate=training.learning_rate,
        batch_size=batch,
        max_steps=steps,
        seed=training.seed,
        logging_steps=training.logging_steps,
        save_steps=int(values["save_steps"]) if strategy not in ("no", False) else 0,
        tensorboard=bool({"tensorboard", "all"} & set(report_to)),
        max_grad_norm=float(values["max_grad_norm"]),
        weight_decay=float(values["weight_decay"]),
        lr_scheduler_type=values["lr_scheduler_type"],
        gradient_checkpointing=checkpointing_enabled(training),
    )
