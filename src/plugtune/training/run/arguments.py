"""``transformers.TrainingArguments`` from the config's ``training`` section.

plugtune states its own defaults instead of inheriting ones that fail or crawl on the
hardware at hand (TRL configs turn on bf16 and gradient checkpointing; a CPU needs
``use_cpu``), and checks every key by name: a misspelt or renamed argument is an error
with the fix, never silently ignored.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path
from typing import Any

from plugtune.core.config import RunConfig, TrainingConfig
from plugtune.core.errors import ConfigError
from plugtune.core.validation import did_you_mean
from plugtune.training.run.distributed import single_process_world

# Keys people carry over from older transformers / TRL / LLaMA-Factory configs.
RENAMED = {
    "evaluation_strategy": "training.eval_strategy",
    "overwrite_output_dir": "output.overwrite",
    "logging_dir": "nothing: TensorBoard events go to <output.dir>/runs",
    "warmup_ratio": "training.warmup_steps (a value below 1 is a ratio of the steps)",
    "max_seq_length": "data.cutoff_len",
    "max_length": "data.cutoff_len",
    "output_dir": "output.dir",
}
# Keys plugtune sets itself: they follow from the rest of the config.
OWNED = {"resume_from_checkpoint"}
# The names people know, and what transformers 5.2x renamed them to (the old ones warn).
NEW_NAMES = {
    "gradient_checkpointing": "activation_checkpointing",
    "gradient_checkpointing_kwargs": "activation_checkpointing_kwargs",
}


def checkpointing_enabled(training: TrainingConfig) -> bool:
    """Whether activations are recomputed in the backward pass, under either name."""
    extra = training.model_extra or {}
    return bool(training.gradient_checkpointing or extra.get("activation_checkpointing"))


def _defaults(output_dir: Path, has_eval: bool) -> dict[str, Any]:
    import torch

    on_gpu = torch.cuda.is_available()
    return {
        "output_dir": str(output_dir),
        "use_cpu": not on_gpu,
        "report_to": ["tensorboard"] if importlib.util.find_spec("tensorboard") else [],
        "eval_strategy": "epoch" if has_eval else "no",
        "per_device_eval_batch_size": 8,
        # plugtune shows its own progress bar and counts real tokens itself.
        "disable_tqdm": True,
        "include_num_input_tokens_seen": "no",
        # Batches are built by plugtune's collators: every column is meant.
        "remove_unused_columns": False,
        "dataloader_pin_memory": on_gpu,
        "save_strategy": "steps",
        "save_steps": 500,
    }


def _yaml_no(given: dict[str, Any]) -> dict[str, Any]:
    """YAML 1.1 reads ``save_strategy: no`` as ``False``; a strategy means the word."""
    return {
        key: "no" if key.endswith("_strategy") and value is False else value
        for key, value in given.items()
    }


def given_keys(training: TrainingConfig) -> set[str]:
    """The ``training`` keys the config sets itself (not plugtune's declared defaults)."""
    return set(training.model_fields_set) | set(training.model_extra or {})


def training_argument_values(
    config: RunConfig,
    output_dir: Path,
    *,
    has_eval: bool = False,
    config_class: type | None = None,
    **trainer_defaults: Any,
) -> dict[str, Any]:
    """The checked keyword arguments of ``config_class`` (``TrainingArguments`` or a
    subclass such as TRL's ``DPOConfig``, whose own fields then pass through by name too):
    plugtune's defaults, then the trainer plugin's, then the user's ``training`` section
    (which always wins)."""
    if config_class is None:
        from transformers import TrainingArguments

        config_class = TrainingArguments
    known = {field.name for field in dataclasses.fields(config_class) if field.init}
    what = "transformers TrainingArguments"
    if config_class.__name__ != "TrainingArguments":
        what = f"{what} or {config_class.__name__}"
    given = config.training.model_dump(exclude=OWNED)
    for key in given:
        if key in RENAMED:
            raise ConfigError(f"training.{key}: not a training argument here; use {RENAMED[key]}")
        if key not in known:
            raise ConfigError(
                f"training.{key}: not a {what} field{did_you_mean(key, sorted(known))}"
            )
    values = {**_defaults(output_dir, has_eval), **trainer_defaults, **_yaml_no(given)}
    if values.get("deepspeed"):
        single_process_world()
        if "use_cpu" not in given:
            # accelerate drops DeepSpeed without a word when told to use the CPU;
            # DeepSpeed picks its own accelerator (its CPU one included).
            values["use_cpu"] = False
    if config.data.streaming and isinstance(values.get("accelerator_config", {}), dict):
        # Each process reads the stream and keeps its share of every global batch:
        # dispatching from rank 0 would concatenate batches padded to other lengths.
        values["accelerator_config"] = {"dispatch_batches": False,
                                        **values.get("accelerator_config", {})}
    if checkpointing_enabled(config.training):
        values.setdefault("gradient_checkpointing_kwargs", {"use_reentrant": False})
    for old, new in NEW_NAMES.items():
        if new in known and old in values:
            values.setdefault(new, values.pop(old))
    return values


def training_arguments(
    config: RunConfig,
    output_dir: Path,
    *,
    has_eval: bool = False,
    config_class: type | None = None,
    **trainer_defaults: Any,
) -> Any:
    """The arguments of a run (a ``config_class`` instance, ``TrainingArguments`` by
    default): see :func:`training_argument_values`."""
    if config_class is None:
        from transformers import TrainingArguments

        config_class = TrainingArguments
    values = training_argument_values(
        config, output_dir, has_eval=has_eval, config_class=config_class, **trainer_defaults
    )
    try:
        return config_class(**values)
    except ValueError as error:
        raise ConfigError(f"training: {error}") from None
