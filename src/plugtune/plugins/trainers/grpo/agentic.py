"""Agentic GRPO: each completion is an episode of several turns with tools.

TRL's ``GRPOTrainer`` runs the episodes through two of its hooks and does the rest (the
groups, the advantages, the loss, several processes, resume):

- ``environment_factory``: TRL makes one :class:`EpisodeSlot` per rollout and resets it
  with the rollout's dataset row before generating, then hands the slots to every
  reward as ``environments`` — which is how the rollout learns each prompt's record and
  how the rewards see each episode;
- ``rollout_func``: :class:`AgenticRollouts` plays the episodes (:mod:`plugtune.agents`),
  turn by turn and batched across episodes, with the run's template rendering the tools
  and reading the calls back. The completion is every token after the prompt: the
  model's own (trained) and the tool messages the template wrote between its turns,
  which ``env_mask`` keeps out of the loss.

Rewards judge the final answer (the last reply's content), not the whole episode: a
tool's message never earns a reward the model did not write. Each also receives the
episodes' summaries as ``episodes``; an environment that owns a reward adds an
``environment`` reward. The first reward logs the batch's episodes (``log_metric`` is
TRL's way for rewards to log), and ``episodes.jsonl`` in the run folder keeps each one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from plugtune.agents.environments import Episodes
from plugtune.agents.episode import STOP_REASONS, Episode
from plugtune.compat.trl import ROLLOUT_MASK, RolloutState, rollout_state
from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import OwnsReward
from plugtune.core.records import Conversation, Record, prompt_and_reference
from plugtune.training.rows.prompts import ROW, reward_columns

EPISODE_LOG = "episodes.jsonl"


class EpisodeSlot:
    """Where one rollout's episode lives (TRL's environment for the rollout): ``reset``
    receives the rollout's dataset row; no public method besides it, so TRL offers no
    tools of its own."""

    def __init__(self) -> None:
        self.row: int = -1
        self.episode: Episode | None = None

    def reset(self, **row: Any) -> None:
        self.row = int(row[ROW])
        self.episode = None


class AgenticRollouts:
    """Plays the episodes of a batch with the policy: TRL's ``rollout_func``."""

    def __init__(self, episodes: Episodes, records: Sequence[Record], tokenizer: Any,
                 max_completion_length: int, log_path: Path | None) -> None:
        self.episodes = episodes
        self.prompts: list[Conversation] = [prompt_and_reference(r)[0] for r in records]
        self.columns = [reward_columns(r) for r in records]
        self.tokenizer = tokenizer
        self.max_length = max_completion_length
        self.log_path = log_path
        episodes.names(self.prompts)

    def __call__(self, prompts: Sequence[str], trainer: Any) -> dict[str, Any]:
        state = rollout_state(trainer)
        slots: list[EpisodeSlot] = state.environments
        for slot in slots:
            slot.episode = self.episodes.start(self.prompts[slot.row], self.columns[slot.row])
        played = [slot.episode for slot in slots]
        encode = self._encode
        prompt_ids = [encode(episode.prompt()) for episode in played]  # type: ignore[union-attr]
        completions: list[list[int]] = [[] for _ in played]
        masks: list[list[int]] = [[] for _ in played]
        stops = set(state.stop_ids)
        active = list(range(len(played)))
        while active:
            budget = {i: self.max_length - len(completions[i]) for i in active}
            generated = generate(trainer, state, [prompt_ids[i] + completions[i] for i in active],
                                 max(budget.values()))
            still = []
            for i, tokens in zip(active, generated, strict=True):
                tokens = _until_stop(tokens, stops)[: budget[i]]
                completions[i] += tokens
                masks[i] += [1] * len(tokens)
                if self._next_turn(played[i], tokens, stops, completions[i], masks[i]):  # type: ignore[arg-type]
                    still.append(i)
            active = still
        self._log(trainer, slots)
        return {"prompt_ids": prompt_ids, "completion_ids": completions, "logprobs": None,
                ROLLOUT_MASK: masks}

    def _next_turn(self, episode: Episode, tokens: list[int], stops: set[int],
                   completion: list[int], mask: list[int]) -> bool:
        """Give the episode the model's reply; append the tools' messages (mask 0) when
        it goes on. False: the episode is over."""
        if not tokens or tokens[-1] not in stops:  # ran out of tokens mid-reply
            episode.reply(self.tokenizer.decode(tokens))
            episode.stop("length")
            return False
        if not episode.reply(self.tokenizer.decode(tokens[:-1])):
            return False
        following = self._encode(episode.continuation())
        if len(completion) + len(following) >= self.max_length:
            episode.stop("length")
            return False
        completion += following
        mask += [0] * len(following)
        return True

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def _log(self, trainer: Any, slots: Sequence[EpisodeSlot]) -> None:
        """Append the batch's episodes to ``episodes.jsonl`` (another process's to
        ``episodes.rank<N>.jsonl``: each plays its own share of the batch)."""
        if self.log_path is None:
            return
        step, rank = trainer.state.global_step, trainer.accelerator.process_index
        path = self.log_path if rank == 0 else self.log_path.with_suffix(f".rank{rank}.jsonl")
        with path.open("a", encoding="utf-8") as log:
            for slot in slots:
                record = {"step": step, "row": slot.row, **slot.episode.summary()}  # type: ignore[union-attr]
                log.write(json.dumps(record, default=str) + "\n")


def generate(trainer: Any, state: RolloutState, sequences: Sequence[list[int]],
             max_new_tokens: int) -> list[list[int]]:
    """Sample one reply per sequence with the policy, as TRL's own generation does it
    (its sampling settings, the model unwrapped from DeepSpeed/DDP); left-padded."""
    import copy

    import torch
    from trl.models import unwrap_model_for_generation

    pad = trainer.processing_class.pad_token_id
    width = max(len(s) for s in sequences)
    device = trainer.accelerator.device
    ids = torch.tensor([[pad] * (width - len(s)) + s for s in sequences], device=device)
    mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in sequences],
                        device=device)
    args = trainer.args
    sampling = copy.copy(state.generation_config)
    sampling.max_new_tokens = max_new_tokens
    with unwrap_model_for_generation(
        trainer.model_wrapped, trainer.accelerator,
        gather_deepspeed3_params=args.ds3_gather_for_generation,
        generation_kwargs=state.generation_kwargs,
        gradient_checkpointing_kwargs=args.gradient_checkpointing_kwargs,
    ) as model, torch.no_grad():
        output = model.generate(input_ids=ids, attention_mask=mask,
                                generation_config=sampling)
    return [row[width:].tolist() for row in output]


def _until_stop(tokens: list[int], stops: set[int]) -> list[int]:
    """The reply's tokens up to and with its first end-of-turn token."""
    for index, token in enumerate(tokens):
        if token in stops:
            return tokens[: index + 1]
    return tokens


def judging_answers(reward: Callable[..., Sequence[Any]]) -> Callable[..., Sequence[Any]]:
    """``reward`` judging each episode's final answer, with the episodes' summaries as
    ``episodes``."""

    def call(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> Sequence[Any]:
        played = _episodes(kwargs["environments"])
        return reward(prompts=prompts, completions=[e.answer for e in played],
                      episodes=[e.summary() for e in played], **kwargs)

    call.__name__ = call.__qualname__ = reward.__name__
    return call


def logging_episodes(reward: Callable[..., Sequence[Any]]) -> Callable[..., Sequence[Any]]:
    """``reward``, also logging the batch's episodes through TRL's ``log_metric``."""

    def call(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> Sequence[Any]:
        played = _episodes(kwargs["environments"])
        for name, value in episode_metrics(played).items():
            kwargs["log_metric"](name, value)
        kwargs["log_extra"]("tool_calls", [len(e.outcomes) for e in played])
        kwargs["log_extra"]("stopped", [e.stopped for e in played])
        return reward(prompts=prompts, completions=completions, **kwargs)

    call.__name__ = call.__qualname__ = reward.__name__
    return call


def episode_metrics(played: Sequence[Episode]) -> dict[str, float]:
    """Per-batch means: tool calls, tool errors, parse failures and turns per episode,
    and the share of episodes each stop reason ended."""
    count = max(len(played), 1)
    metrics = {
        "episodes/tool_calls": sum(len(e.outcomes) for e in played) / count,
        "episodes/tool_errors": sum(1 for e in played for o in e.outcomes if o.error) / count,
        "episodes/parse_failures": sum(e.parse_failures for e in played) / count,
        "episodes/turns": sum(e.summary()["turns"] for e in played) / count,
    }
    for reason in STOP_REASONS:
        metrics[f"episodes/stopped_{reason}"] = sum(e.stopped == reason for e in played) / count
    return metrics


def environment_reward(prompts: Sequence[Any], completions: Sequence[Any],
                       **kwargs: Any) -> list[float | None]:
    """The environments' own scores (None for an episode whose environment owns none)."""
    return [e.environment_reward() for e in _episodes(kwargs["environments"])]


environment_reward.__name__ = "environment"


def owns_reward(episodes: Episodes, records: Sequence[Record]) -> bool:
    """Whether any environment the run uses scores its episodes itself."""
    names = {str(r.meta["environment"]) for r in records
             if isinstance(r, Conversation) and "environment" in r.meta}
    refs: list[Any] = [*names]
    if episodes.options.environment is not None:
        refs.append(episodes.options.environment)
    return any(isinstance(episodes.session.build("environments", ref), OwnsReward) for ref in refs)


def check_agentic(use_vllm: bool) -> None:
    if use_vllm:
        raise ConfigError("trainer.use_vllm: episodes with tools generate with transformers "
                          "for now; leave use_vllm out when an environment or tools are set")


def _episodes(slots: Sequence[EpisodeSlot]) -> list[Episode]:
    return [slot.episode for slot in slots]  # type: ignore[misc]
