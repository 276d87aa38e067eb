"""``grpo``: Group Relative Policy Optimization with the run's reward plugins.

TRL's ``GRPOTrainer`` samples ``num_generations`` completions per prompt, scores them
with every reward of the ``rewards:`` section (checked and weighted by
:mod:`plugtune.rewards`) and pushes the policy towards the completions that beat their
group's mean. plugtune supplies the prompts, rendered with the run's template, the
columns the rewards read, the model from the ``peft`` section, its callbacks, and the
guards of :mod:`plugtune.training.grpo_checks`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import TrainingRun
from plugtune.core.records import Conversation, LabeledCompletion, Preference, Record, RecordError

log = logging.getLogger(__name__)

ROW = "plugtune_row"  # the dataset column that points rewards at their record's columns
# Keyword arguments TRL hands every reward itself: a record column may not shadow them.
RESERVED = frozenset({"prompt", "prompts", "completion", "completions", "completion_ids",
                      "trainer_state", "log_extra", "log_metric", "environments", ROW})


class GRPOOptions(BaseModel):
    """The GRPO knobs; any other ``GRPOConfig`` field may go in ``training`` by name."""

    model_config = ConfigDict(extra="forbid")

    num_generations: int = Field(4, ge=2, description="Completions sampled per prompt.")
    max_completion_length: int = Field(64, gt=0, description="Tokens per completion at most.")
    temperature: float = Field(1.0, gt=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    beta: float = Field(0.0, ge=0.0, description="KL coefficient; 0 loads no reference model.")
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo"] = (
        "dapo"
    )
    importance_sampling_level: Literal["token", "sequence"] = Field(
        "token", description="sequence: GSPO (and what luspo needs)."
    )
    scale_rewards: Literal["group", "batch", "none"] = "group"
    num_iterations: int = Field(1, gt=0, description="Updates per generated batch.")
    epsilon: float = Field(0.2, gt=0.0, description="Clipping range of the ratio.")
    mask_truncated_completions: bool = Field(
        False, description="Leave completions cut off at max_completion_length out of the loss."
    )
    log_completions: bool = Field(False, description="Print a table of samples at each log.")
    use_vllm: bool = Field(False, description="Generate with vLLM (must be installed).")
    vllm_mode: Literal["colocate", "server"] = "colocate"
    vllm_server_base_url: str | None = Field(None, description="Overrides host and port.")
    vllm_server_host: str = "0.0.0.0"
    vllm_server_port: int = 8000
    vllm_gpu_memory_utilization: float = Field(0.3, gt=0.0, le=1.0)
    warn_truncated_above: float = Field(
        0.8, ge=0.0, le=1.0,
        description="Warn when more than this share of completions is cut off (1: never).",
    )


class GroupRelativePolicyOptimization:
    """Sample groups of completions per prompt, score them with the run's rewards, and
    train the policy towards the better ones (TRL's GRPOTrainer)."""

    def __init__(self, **options: Any) -> None:
        self.options = GRPOOptions(**options)

    def train(self, run: TrainingRun) -> dict[str, float]:
        from transformers import PrinterCallback, set_seed
        from trl import GRPOTrainer

        from plugtune.data.datasets import load_datasets
        from plugtune.data.templates import resolve_template, stop_token_ids
        from plugtune.data.tokenizer import load_tokenizer
        from plugtune.rewards import load_rewards, trl_reward_functions
        from plugtune.training.causal_lm import run_callbacks
        from plugtune.training.checkpoints import resume_checkpoint
        from plugtune.training.finetuning import trainable_model
        from plugtune.training.grpo_checks import (
            TruncationWarning,
            check_rewards,
            check_vllm,
            grpo_arguments,
        )
        from plugtune.training.plots import plot_rewards

        config, options = run.config, self.options
        rewards = load_rewards(config.rewards, run.session)
        check_rewards(rewards)
        check_vllm(options.use_vllm)
        loaded = load_datasets(config.data, run.session)
        reward_funcs, weights = trl_reward_functions(rewards)
        args = grpo_arguments(  # checks the batch sizes, before the model loads
            config, run.output_dir, options.model_dump(exclude={"warn_truncated_above"}),
            has_eval=bool(loaded.eval), reward_weights=weights,
        )
        tokenizer = load_tokenizer(config.model)
        template = resolve_template(run.session, config.template, tokenizer)
        train_texts, columns = prompt_rows(loaded.train, template, tokenizer)
        eval_texts, eval_columns = prompt_rows(loaded.eval, template, tokenizer)
        if not train_texts:
            raise ConfigError("data.train: no training prompts (name a dataset in data.train)")
        columns += eval_columns  # rows are numbered across both splits
        train_data = prompt_dataset(train_texts, first=0)
        eval_data = prompt_dataset(eval_texts, first=len(train_texts)) if eval_texts else None

        set_seed(config.training.seed)  # before the adapter is initialised: runs repeat
        model = trainable_model(config)
        # A completion also ends at the template's end-of-turn token (TRL reads these ids).
        eos = model.generation_config.eos_token_id
        eos = [eos] if isinstance(eos, int) else list(eos or [])
        eos_ids = dict.fromkeys([*stop_token_ids(template, tokenizer), *eos])
        model.generation_config.eos_token_id = list(eos_ids)
        padding_side = tokenizer.padding_side
        tokenizer.padding_side = "left"  # as TRL loads it itself
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=[with_columns(f, columns) for f in reward_funcs],
            args=args,
            train_dataset=train_data,
            eval_dataset=eval_data,
            processing_class=tokenizer,
            callbacks=[*run_callbacks(run), TruncationWarning(
                options.max_completion_length, options.warn_truncated_above)],
        )
        trainer.remove_callback(PrinterCallback)  # RichProgress shows the logs
        resume = run.resume or config.training.resume_from_checkpoint
        result = trainer.train(resume_from_checkpoint=resume_checkpoint(resume, run.output_dir))
        metrics = dict(result.metrics)
        if eval_data is not None:
            metrics.update(trainer.evaluate())
        metrics["num_input_tokens_seen"] = trainer.state.num_input_tokens_seen
        tokenizer.padding_side = padding_side
        trainer.save_model(str(run.output_dir))  # adapter or full weights, and the tokenizer
        trainer.save_state()
        keys = ("reward", *(f"rewards/{reward.name}/mean" for reward in rewards))
        if config.output.plot and trainer.is_world_process_zero():
            plot_rewards(run.output_dir, keys)
        return metrics


def prompt_rows(
    records: Iterable[Record], template: Any, tokenizer: Any
) -> tuple[list[str], list[dict[str, Any]]]:
    """Each record's prompt, rendered as plain text by the run's template up to the
    generation prompt, and the columns its rewards receive (``answer``, ``meta``…).

    A conversation that ends with an answer gives that answer as ``answer``; a preference
    pair gives its chosen answer (``gold_answers``) and its rejected one (``bad_answers``).
    """
    bos = tokenizer.bos_token
    # A tokenizer that adds BOS itself would get a second one from the rendered text.
    strip_bos = bool(bos) and tokenizer("x").input_ids[:1] == [tokenizer.bos_token_id]
    texts: list[str] = []
    columns: list[dict[str, Any]] = []
    for record in records:
        prompt, extra = _prompt_of(record)
        text = template.render(prompt, add_generation_prompt=True)
        if strip_bos and text.startswith(bos):
            text = text[len(bos):]
        texts.append(text)
        row = {key: value for key, value in prompt.meta.items() if key not in RESERVED}
        for key, value in extra.items():
            row.setdefault(key, value)
        columns.append(row)
    return texts, columns


def _prompt_of(record: Record) -> tuple[Conversation, dict[str, Any]]:
    if isinstance(record, Preference):
        chosen, rejected = record.chosen.content, record.rejected.content
        return record.prompt, {"answer": chosen, "gold_answers": [chosen],
                               "bad_answers": [rejected]}
    if isinstance(record, LabeledCompletion):
        record = record.conversation
    if not isinstance(record, Conversation):
        raise RecordError(
            getattr(record, "origin", ""), "",
            f"grpo needs prompts (conversations, prompt/answer rows), not "
            f"{type(record).__name__} records",
        )
    prompt, answer = record.split_last_answer()
    if not prompt.messages or prompt.messages[-1].role not in ("user", "tool"):
        raise RecordError(record.origin, "messages", "grpo needs a user (or tool) turn to answer")
    return prompt, ({"answer": answer.content} if answer is not None else {})


def prompt_dataset(texts: Sequence[str], first: int) -> Any:
    """What TRL batches: the prompt text and the number of its record's columns."""
    from datasets import Dataset

    return Dataset.from_dict({"prompt": list(texts), ROW: list(range(first, first + len(texts)))})


def with_columns(
    reward: Callable[..., Sequence[Any]], columns: Sequence[Mapping[str, Any]]
) -> Callable[..., Sequence[Any]]:
    """``reward`` with each record's columns as keyword arguments, one value per completion.

    The dataset TRL batches holds only the prompt and a row number: the columns stay Python
    objects (lists of answers, numbers mixed with strings) that an Arrow table would refuse.
    """
    names = sorted({key for row in columns for key in row})

    def call(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> Sequence[Any]:
        rows = kwargs.pop(ROW)
        values = {name: [columns[row].get(name) for row in rows] for name in names}
        return reward(prompts=prompts, completions=completions, **values, **kwargs)

    call.__name__ = call.__qualname__ = reward.__name__
    return call

