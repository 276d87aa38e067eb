"""``grpo``: Group Relative Policy Optimization with the run's reward plugins.

TRL's ``GRPOTrainer`` samples ``num_generations`` completions per prompt, scores them
with every reward of the ``rewards:`` section (checked and weighted by
:mod:`plugtune.rewards`) and pushes the policy towards the completions that beat their
group's mean. plugtune supplies the prompts, rendered with the run's template
(:mod:`plugtune.training.rows.prompts`), the columns the rewards read, the model from the
``peft`` section, its callbacks, and the guards of :mod:`.checks`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from plugtune.compat.trl import tool_check_passed
from plugtune.core.config import AgentConfig
from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import TrainingRun
from plugtune.plugins.trainers.grpo.options import NOT_TRL_CONFIG, GRPOOptions, OnlineRLOptions
from plugtune.training.rows.prompts import ROW, RewardColumns


@dataclass
class Prompts:
    """The run's prompts as TRL's datasets, and the columns their rewards read (rows
    numbered across both splits)."""

    train: Any
    eval: Any | None
    columns: RewardColumns


class GroupRelativePolicyOptimization:
    """Sample groups of completions per prompt, score them with the run's rewards, and
    train the policy towards the better ones (TRL's GRPOTrainer)."""

    Options: type[OnlineRLOptions] = GRPOOptions
    TRL_TRAINER, TRL_CONFIG = "GRPOTrainer", "GRPOConfig"  # trl's names

    def __init__(self, **options: Any) -> None:
        self.options = self.Options(**options)

    def train(self, run: TrainingRun) -> dict[str, float]:
        from transformers import PrinterCallback, set_seed

        from plugtune.data.datasets import load_datasets
        from plugtune.data.templates import tokenizer_and_template
        from plugtune.plugins.trainers.grpo.checks import (
            TruncationWarning,
            check_vllm,
            grpo_arguments,
        )
        from plugtune.training.run.causal_lm import run_callbacks, train_and_save
        from plugtune.training.run.finetuning import trainable_model
        from plugtune.training.run.plots import plot_rewards

        config, options = run.config, self.options
        check_vllm(options.use_vllm)
        loaded = load_datasets(config.data, run.session)
        tokenizer, template = tokenizer_and_template(config, run.session)
        prompts = _prompts(loaded.train, loaded.eval, template, tokenizer)
        reward_funcs, weights, agentic = self._rewards(
            run, template, tokenizer, [*loaded.train, *loaded.eval], prompts.columns)
        args = grpo_arguments(  # checks the batch sizes, before the model loads
            config, run.output_dir, options.model_dump(exclude=NOT_TRL_CONFIG),
            has_eval=bool(loaded.eval), reward_weights=weights, config_class=self.TRL_CONFIG,
        )
        set_seed(config.training.seed)  # before the adapter is initialised: runs repeat
        model = trainable_model(config, run.session)
        _stop_at_end_of_turn(model, template, tokenizer)
        padding_side = tokenizer.padding_side
        tokenizer.padding_side = "left"  # as TRL loads it itself

        def saved_as_loaded() -> None:
            tokenizer.padding_side = padding_side
        trainer = trl_trainer(
            self.TRL_TRAINER, tokenizer, agentic, model=model, reward_funcs=reward_funcs,
            args=args, train_dataset=prompts.train, eval_dataset=prompts.eval,
            callbacks=[*run_callbacks(run), TruncationWarning(
                options.max_completion_length, options.warn_truncated_above)],
        )
        trainer.remove_callback(PrinterCallback)  # RichProgress shows the logs
        metrics = train_and_save(run, trainer, evaluate=prompts.eval is not None,
                                 before_save=saved_as_loaded)
        keys = ("reward", *(f"rewards/{f.__name__}/mean" for f in reward_funcs))
        if config.output.plot and trainer.is_world_process_zero():
            plot_rewards(run.output_dir, keys)
        return metrics

    def _rewards(
        self, run: TrainingRun, template: Any, tokenizer: Any, records: Sequence[Any],
        columns: RewardColumns,
    ) -> tuple[list[Callable[..., Sequence[Any]]], list[float], dict[str, Any]]:
        """TRL's reward functions and weights for the run's rewards, each given its
        record's columns; with an ``agent`` section, judging episodes (and the
        GRPOTrainer arguments that play them)."""
        from plugtune.plugins.trainers.grpo.checks import check_rewards
        from plugtune.rewards import load_rewards, trl_reward_functions

        config = run.config
        rewards = load_rewards(config.rewards, run.session)
        if config.agent is None:  # with one, the environment may own the reward
            check_rewards(rewards)
        functions, weights = trl_reward_functions(rewards)
        functions = [with_columns(f, columns) for f in functions]
        if config.agent is None:
            return functions, weights, {}
        if not isinstance(self.options, GRPOOptions):
            raise ConfigError(f"agent: episodes with tools train with grpo; trainer "
                              f"{run.config.trainer.name!r} samples single completions")
        return _agentic(run, config.agent, self.options, template, tokenizer, records,
                        functions, weights)


def trl_trainer(name: str, tokenizer: Any, agentic: dict[str, Any], **arguments: Any) -> Any:
    """TRL's trainer ``name`` (``GRPOTrainer``, ``RLOOTrainer``); with ``agentic`` (its
    ``rollout_func`` and ``environment_factory``), built past TRL's check of the
    tokenizer's own chat template (:func:`plugtune.compat.trl.tool_check_passed`). TRL's
    warnings about those experimental hooks name this function as their origin, which is
    how plugtune.cli.KNOWN_NOISE finds them."""
    import trl

    with tool_check_passed(tokenizer) if agentic else nullcontext():
        return getattr(trl, name)(processing_class=tokenizer, **arguments, **agentic)


def _agentic(
    run: TrainingRun, agent: AgentConfig, options: GRPOOptions, template: Any, tokenizer: Any,
    records: Sequence[Any], reward_funcs: list[Callable[..., Sequence[Any]]], weights: list[float],
) -> tuple[list[Callable[..., Sequence[Any]]], list[float], dict[str, Any]]:
    """The rewards, weights and GRPOTrainer arguments that make completions episodes."""
    from plugtune.agents.environments import Episodes
    from plugtune.plugins.trainers.grpo import agentic
    from plugtune.plugins.trainers.grpo.checks import check_rewards

    agentic.check_agentic(options.use_vllm)
    episodes = Episodes(agent, run.session, template)
    log_path = run.output_dir / agentic.EPISODE_LOG
    rollouts = agentic.AgenticRollouts(episodes, records, tokenizer,
                                       options.max_completion_length, log_path)
    judged = [agentic.judging_answers(f) for f in reward_funcs]
    if agentic.owns_reward(episodes, records):
        judged.append(agentic.environment_reward)
        weights = [*weights, options.environment_weight]
    elif not judged:
        check_rewards([])  # no reward plugin, and no environment that scores itself
    judged[0] = agentic.logging_episodes(judged[0])
    return judged, weights, {"rollout_func": rollouts, "environment_factory": agentic.EpisodeSlot}


def _prompts(train: Sequence[Any], evaluation: Sequence[Any], template: Any,
             tokenizer: Any) -> Prompts:
    from plugtune.training.rows.prompts import prompt_rows

    train_texts, columns = prompt_rows(train, template, tokenizer)
    eval_texts, eval_columns = prompt_rows(evaluation, template, tokenizer)
    if not train_texts:
        raise ConfigError("data.train: no training prompts (name a dataset in data.train)")
    return Prompts(
        train=prompt_dataset(train_texts, first=0),
        eval=prompt_dataset(eval_texts, first=len(train_texts)) if eval_texts else None,
        columns=RewardColumns(columns + eval_columns),
    )


def _stop_at_end_of_turn(model: Any, template: Any, tokenizer: Any) -> None:
    """A completion also ends at the template's end-of-turn token (TRL reads these ids)."""
    from plugtune.data.templates import stop_token_ids

    eos = model.generation_config.eos_token_id
    eos = [eos] if isinstance(eos, int) else list(eos or [])
    model.generation_config.eos_token_id = list(
        dict.fromkeys([*stop_token_ids(template, tokenizer), *eos]))


def prompt_dataset(texts: Sequence[str], first: int) -> Any:
    """What TRL batches: the prompt text and the number of its record's columns."""
    from datasets import Dataset

    return Dataset.from_dict({"prompt": list(texts), ROW: list(range(first, first + len(texts)))})


def with_columns(
    reward: Callable[..., Sequence[Any]], columns: RewardColumns
) -> Callable[..., Sequence[Any]]:
    """``reward`` with each record's columns as keyword arguments, one value per completion.

    The dataset TRL batches holds only the prompt and a row number: the columns stay Python
    objects (lists of answers, numbers mixed with strings) that an Arrow table would refuse.
    """

    def call(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> Sequence[Any]:
        rows = kwargs.pop(ROW)
        return reward(prompts=prompts, completions=completions, **columns.batch(rows), **kwargs)

    call.__name__ = call.__qualname__ = reward.__name__
    return call
