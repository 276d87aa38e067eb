"""The PPO loop: rollout → score → optimise, on PyTorch, PEFT and accelerate.

Per step, each process takes a batch of ``per_device_train_batch_size`` prompts:

1. **rollout** — the policy (the LoRA model) samples a completion per prompt (an online
   batch), or the record's gold answer is the completion (an offline batch; which one is
   a seeded Bernoulli draw with probability ``online_ratio``);
2. **score** — the run's rewards score each completion (``weighted_total``; a sample no
   reward applies to scores 0), plus ``reward_model_weight`` times the score of the
   ``reward_model`` (an rm run's output, :mod:`plugtune.plugins.trainers.ppo.reward_model`)
   when one is set; the reference (the same model with its adapter disabled)
   gives the per-token KL penalty; the value head gives the values; GAE gives the
   advantages (whitened) and the returns;
3. **optimise** — ``num_ppo_epochs`` passes over the batch in mini-batches of
   ``mini_batch_size``: ``α · policy loss + β · value loss − γ · entropy`` with AdamW over
   the adapter (and ``modules_to_save``) and the value head.

Under ``accelerate launch`` or ``torchrun`` every process rolls out its own share of the
prompts and accelerate's DDP averages the gradients; all processes draw the same batch
order and online/offline choices (one seed), and rank 0 alone logs and saves, with the
metrics of every process averaged. With ``kl_target`` set, the KL coefficient adapts
after each step (:func:`~plugtune.plugins.trainers.ppo.ppo_math.adaptive_kl_coef`).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import TrainingRun
from plugtune.core.records import prompt_and_reference
from plugtune.plugins.trainers.ppo import ppo_math
from plugtune.plugins.trainers.ppo.policy import PolicyWithValue
from plugtune.plugins.trainers.ppo.rollout import RolloutMaker, gold_completion
from plugtune.plugins.trainers.ppo.settings import Settings, training_settings
from plugtune.plugins.trainers.ppo.value_head import ValueHead
from plugtune.training.run.outputs import LOG_FILE

log = logging.getLogger(__name__)

KL_PLOT = "training_kl.png"


class PPOLoop:
    """The state of one PPO run: model, value head, optimizer, data and logs."""

    def __init__(self, run: TrainingRun, options: Any) -> None:
        self.run, self.options = run, options

    # --- setup ----------------------------------------------------------------------------

    def setup(self) -> None:
        """Everything a step needs: rewards, prompts, the policy and its value head
        wrapped by accelerate, the optimizer, the learning-rate schedule and the logs."""
        from transformers import set_seed

        self._load_prompts()
        self.settings = self._checked_settings()
        set_seed(self.settings.seed)  # before the adapter and head are initialised
        self._build_policy()
        self.kl_coef = self.options.kl_coef
        total = self.settings.max_steps
        linear = self.settings.lr_scheduler_type == "linear"
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: max(0.0, 1 - step / total) if linear else 1.0)
        self.random = random.Random(self.settings.seed)
        self.writer = None
        if self.settings.tensorboard and self.accelerator.is_main_process:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.run.output_dir / "runs"))

    def _load_prompts(self) -> None:
        """The rewards, the training prompts and their reward columns (and, for a reward
        model, the prompts as conversations: it renders them with its answers)."""
        from plugtune.data.datasets import load_datasets
        from plugtune.data.templates import tokenizer_and_template
        from plugtune.rewards import load_rewards
        from plugtune.training.rows.prompts import RewardColumns, prompt_rows

        run, options, config = self.run, self.options, self.run.config
        if config.callbacks or run.callbacks:
            raise ConfigError("callbacks: ppo runs its own loop, which calls no transformers "
                              "TrainerCallback; remove them for a ppo run")
        self.rewards = load_rewards(config.rewards, run.session)
        if not self.rewards and not options.reward_model:
            raise ConfigError("rewards: ppo learns from rewards; name at least one "
                              "(see docs/rewards.md), or set trainer.reward_model to the "
                              "output dir of an rm run")
        loaded = load_datasets(config.data, run.session)
        self.tokenizer, self.template = tokenizer_and_template(config, run.session)
        self.prompts, self.columns = prompt_rows(loaded.train, self.template, self.tokenizer,
                                                 "ppo")
        self.reward_columns = RewardColumns(self.columns)
        self.conversations = ([prompt_and_reference(record)[0] for record in loaded.train]
                              if options.reward_model else [])
        if not self.prompts:
            raise ConfigError("data.train: no training prompts (name a dataset in data.train)")
        if options.online_ratio < 1:
            missing = [i for i, row in enumerate(self.columns) if gold_completion(row) is None]
            if missing:
                raise ConfigError(
                    f"trainer.online_ratio {options.online_ratio}: offline batches use each "
                    f"record's gold answer (answer / gold_answers), and {len(missing)} of "
                    f"{len(self.columns)} training records have none (the first: record "
                    f"{missing[0]}); set online_ratio: 1 or give every record an answer"
                )

    def _checked_settings(self) -> Settings:
        from plugtune.training.run.distributed import world_size
        from plugtune.training.run.finetuning import peft_method

        run, config = self.run, self.run.config
        settings = training_settings(run, -(-len(self.prompts) // world_size()))
        if self.options.mini_batch_size > settings.batch_size:
            raise ConfigError(
                f"trainer.mini_batch_size {self.options.mini_batch_size} is larger than the "
                f"rollout batch (training.per_device_train_batch_size {settings.batch_size})"
            )
        if not peft_method(config, run.session).adapter:
            raise ConfigError(
                f"peft.type {config.peft.type!r}: ppo's reference is the model with its "
                f"adapter disabled; train with lora, dora or qlora"
            )
        return settings

    def _build_policy(self) -> None:
        """The LoRA policy and its value head as one module, prepared by accelerate with
        its optimizer; the rollout maker; the reward model, if any."""
        from accelerate import Accelerator

        from plugtune.data.templates import stop_token_ids
        from plugtune.training.run.distributed import world_size
        from plugtune.training.run.finetuning import trainable_model

        run, options, config = self.run, self.options, self.run.config
        model = trainable_model(config, run.session)
        # Only now the process group: once one exists, transformers' save_pretrained
        # writes on rank 0 alone, and each process builds a tiny:// model it loads.
        # accelerate needs ``cpu`` to run several processes without GPUs (over gloo).
        self.accelerator = Accelerator(cpu=world_size() > 1 and not torch.cuda.is_available())
        if self.settings.gradient_checkpointing:
            model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False})
        self.reward_model = None
        if options.reward_model:
            from plugtune.plugins.trainers.ppo.reward_model import load_reward_scorer

            self.reward_model = load_reward_scorer(options.reward_model, config, run.session,
                                                   self.accelerator.device)
        value_head = ValueHead(model.config.get_text_config().hidden_size)
        eos = model.generation_config.eos_token_id
        eos = [eos] if isinstance(eos, int) else list(eos or [])
        stop_ids = dict.fromkeys([*stop_token_ids(self.template, self.tokenizer), *eos])
        self.rollouts = RolloutMaker(self.tokenizer, self.prompts, self.columns, list(stop_ids),
                                     options.max_new_tokens, options.temperature)
        policy = PolicyWithValue(model, value_head, options.temperature)
        # A quantized model was placed by its device map and cannot move: the head joins it.
        placed = config.quantization is not None
        if placed:
            value_head.to(next(model.parameters()).device)
        self.parameters = [p for p in policy.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(self.parameters, lr=self.settings.learning_rate,
                                      weight_decay=self.settings.weight_decay)
        # ``trainable`` is what the gradients flow through (DDP-wrapped when launched);
        # ``policy`` is the bare module, for generation and the no-grad passes.
        self.trainable, self.optimizer = self.accelerator.prepare(
            policy, optimizer, device_placement=[not placed, not placed])
        self.policy = self.accelerator.unwrap_model(self.trainable)

    # --- the batches ----------------------------------------------------------------------

    def batches(self) -> Iterator[list[int]]:
        """This process's row numbers, ``batch_size`` at a time: every process draws the
        same order, reshuffled every pass over the data (a short last batch is topped up
        from the next pass), and takes its own slice of each global batch."""
        size = self.settings.batch_size
        total = size * self.accelerator.num_processes
        mine = slice(self.accelerator.process_index * size,
                     (self.accelerator.process_index + 1) * size)
        order: list[int] = []
        while True:
            while len(order) < total:
                indices = list(range(len(self.prompts)))
                self.random.shuffle(indices)
                order += indices
            yield order[:total][mine]
            order = order[total:]

    # --- one step -------------------------------------------------------------------------

    def scores(self, rows: Sequence[int], texts: list[str]) -> tuple[list[float],
                                                                      dict[str, float]]:
        from plugtune.rewards import weighted_total

        totals: list[float | None] = [None] * len(rows)
        means = {}
        if self.rewards:
            totals, each = weighted_total(self.rewards, [self.prompts[i] for i in rows],
                                          texts, **self.reward_columns.batch(rows))
            for name, values in each.items():
                applying = [v for v in values if v is not None]
                if applying:
                    means[f"rewards/{name}/mean"] = sum(applying) / len(applying)
        scores = [t if t is not None else 0.0 for t in totals]
        if self.reward_model is not None:
            model_scores = self.reward_model.score([self.conversations[i] for i in rows], texts)
            weight = self.options.reward_model_weight
            scores = [s + weight * m for s, m in zip(scores, model_scores, strict=True)]
            means["rewards/reward_model/mean"] = sum(model_scores) / len(model_scores)
        return scores, means

    def step(self, rows: Sequence[int], online: bool) -> dict[str, float]:
        options, policy = self.options, self.policy
        policy.eval()  # no dropout: the ratio is exactly 1 on the first pass
        rollout = self.rollouts.make(policy.policy, rows, online)
        scores, reward_means = self.scores(rows, rollout.texts)
        mask = rollout.mask
        with torch.no_grad():
            old_logprobs, old_values, _ = policy(rollout, slice(None))
            with policy.policy.disable_adapter():
                ref_logprobs, _, _ = policy(rollout, slice(None), with_values=False)
            kl = ppo_math.kl_estimate(old_logprobs, ref_logprobs)
            score = torch.tensor(scores, device=mask.device, dtype=torch.float32)
            token_rewards = ppo_math.rewards_with_kl(score, kl, mask, self.kl_coef)
            advantages, returns = ppo_math.gae(token_rewards, old_values, mask,
                                               options.gamma, options.lam)
            advantages = ppo_math.whiten(advantages, mask)

        sums = {"policy_loss": 0.0, "value_loss": 0.0, "entropy": 0.0, "clipfrac": 0.0,
                "loss": 0.0}
        updates = 0
        count = len(rows)
        for _ in range(options.num_ppo_epochs):
            order = torch.randperm(count, generator=self._generator)
            for first in range(0, count, options.mini_batch_size):
                part = order[first : first + options.mini_batch_size].to(mask.device)
                logprobs, values, logits = self.trainable(rollout, part)
                part_mask = mask[part]
                pg, clipfrac = ppo_math.policy_loss(logprobs, old_logprobs[part],
                                                    advantages[part], part_mask,
                                                    options.clip_epsilon)
                vf = ppo_math.value_loss(values, old_values[part], returns[part], part_mask,
                                         options.clip_value)
                ent = ppo_math.masked_mean(ppo_math.entropy(logits), part_mask)
                loss = (options.policy_loss_weight * pg + options.value_loss_weight * vf
                        - options.entropy_weight * ent)
                self.optimizer.zero_grad()
                self.accelerator.backward(loss)
                if self.settings.max_grad_norm > 0:
                    self.accelerator.clip_grad_norm_(self.parameters,
                                                     self.settings.max_grad_norm)
                self.optimizer.step()
                for key, value in (("policy_loss", pg), ("value_loss", vf), ("entropy", ent),
                                   ("clipfrac", clipfrac), ("loss", loss)):
                    sums[key] += float(value.detach())
                updates += 1
        rate = self.scheduler.get_last_lr()[0]
        self.scheduler.step()
        lengths = mask.sum(dim=1)
        return {
            "reward": sum(scores) / len(scores),
            **reward_means,
            "kl": float((kl * mask).sum(dim=1).mean()),  # per sequence, summed over tokens
            "kl_coef": self.kl_coef,
            **{key: value / max(updates, 1) for key, value in sums.items()},
            "value_mean": ppo_math.masked_mean(old_values, mask).item(),
            "completions/mean_length": float(lengths.mean()),
            "online": 1.0 if online else 0.0,
            "learning_rate": rate,
        }

    # --- the run --------------------------------------------------------------------------

    def train(self) -> dict[str, float]:
        from accelerate.utils import gather_object

        self.setup()
        settings = self.settings
        world = self.accelerator.num_processes
        self._generator = torch.Generator().manual_seed(settings.seed)
        started = time.perf_counter()
        window: list[dict[str, float]] = []
        history: list[dict[str, float]] = []
        batches = self.batches()
        online_ratio = self.options.online_ratio
        for step in range(1, settings.max_steps + 1):
            rows = next(batches)
            online = online_ratio >= 1 or (online_ratio > 0 and self.random.random() < online_ratio)
            metrics = _averaged(gather_object([self.step(rows, online)]))  # over processes
            if self.options.kl_target is not None:
                self.kl_coef = ppo_math.adaptive_kl_coef(
                    self.kl_coef, metrics["kl"], self.options.kl_target,
                    self.options.kl_horizon, len(rows) * world)
            window.append(metrics)
            history.append(metrics)
            if step % settings.logging_steps == 0 or step == settings.max_steps:
                self.log_step(step, window, time.perf_counter() - started)
                window = []
            if settings.save_steps and step % settings.save_steps == 0 \
                    and step < settings.max_steps:
                self.save(self.run.output_dir / f"checkpoint-{step}")
        runtime = time.perf_counter() - started
        if self.writer is not None:
            self.writer.close()
        self.save(self.run.output_dir)
        if self.accelerator.is_main_process:
            self.plot(self.run.output_dir / LOG_FILE)
        return {
            "train_runtime": round(runtime, 4),
            "train_steps_per_second": round(settings.max_steps / max(runtime, 1e-9), 4),
            "train_loss": sum(m["loss"] for m in history) / len(history),
            "reward_first": history[0]["reward"],
            "reward_last": history[-1]["reward"],
            "kl_last": history[-1]["kl"],
            "online_share": sum(m["online"] for m in history) / len(history),
            "epoch": self.epoch(settings.max_steps),
        }

    def epoch(self, step: int) -> float:
        """Passes over the prompts after ``step`` steps of every process."""
        seen = step * self.settings.batch_size * self.accelerator.num_processes
        return round(seen / len(self.prompts), 4)

    def log_step(self, step: int, window: list[dict[str, float]], elapsed: float) -> None:
        """Rank 0 appends the metrics averaged since the last log to trainer_log.jsonl
        (and TensorBoard)."""
        if not self.accelerator.is_main_process:
            return
        entry = {"step": step, "epoch": self.epoch(step), **_averaged(window),
                 "elapsed": round(elapsed, 3)}
        with (self.run.output_dir / LOG_FILE).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
        if self.writer is not None:
            for key, value in entry.items():
                if key not in ("step", "elapsed"):
                    self.writer.add_scalar(f"train/{key}", value, step)
        log.info("step %d/%d: reward %.4f kl %.4f", step, self.settings.max_steps,
                 entry["reward"], entry["kl"])

    def save(self, folder: Path) -> None:
        """The adapter (or the full weights), the tokenizer and the value head, written
        by rank 0 once every process has finished the step."""
        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            return
        folder.mkdir(parents=True, exist_ok=True)
        self.policy.policy.save_pretrained(str(folder))
        self.tokenizer.save_pretrained(str(folder))
        self.policy.value_head.save(folder)

    def plot(self, log_path: Path) -> None:
        from plugtune.training.run.plots import plot_losses, plot_rewards

        if not self.run.config.output.plot:
            return
        keys = ("reward", *(f"rewards/{reward.name}/mean" for reward in self.rewards),
                *(("rewards/reward_model/mean",) if self.reward_model is not None else ()))
        plot_rewards(self.run.output_dir, keys)
        plot_losses(log_path, self.run.output_dir / KL_PLOT, ("kl",), ylabel="KL")


def _averaged(entries: list[dict[str, float]]) -> dict[str, float]:
    keys = dict.fromkeys(key for entry in entries for key in entry)
    return {key: sum(e[key] for e in entries if key in e) / sum(key in e for e in entries)
            for key in keys}
