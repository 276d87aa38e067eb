"""A trained reward model (the output of a plugtune ``rm`` run) as a PPO scorer.

The folder holds either a LoRA adapter with its ``score`` head (peft task ``SEQ_CLS``,
the head in ``modules_to_save``) over a base model, or a full sequence-classification
model. A prompt and its completion are rendered and tokenized exactly as the rm trainer
tokenized its training sequences (:func:`plugtune.data.answers.encode_answers`:
the run's template, up to and including the answer's end-of-turn token, no special
tokens added), padded on the right with the tokenizer's pad token as TRL's collator
pads them, and the model's own pooling takes the score at the last non-pad token.

What the rm run used is read from its ``run_config.yaml`` (base model, an SFT adapter
merged into it, template, ``data.cutoff_len``); without one, the PPO run's settings
stand in.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from plugtune.core.config import ModelConfig, RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.records import Conversation, Message
from plugtune.models.adapters import ADAPTER_CONFIG

log = logging.getLogger(__name__)


class RewardModelScorer:
    """Scores (prompt, completion) pairs with a frozen sequence-classification model."""

    def __init__(self, model: Any, tokenizer: Any, template: Any, cutoff_len: int | None,
                 batch_size: int = 8) -> None:
        self.model, self.tokenizer, self.template = model, tokenizer, template
        self.cutoff_len, self.batch_size = cutoff_len, batch_size
        self.pad_id = tokenizer.pad_token_id
        # What TRL's RewardTrainer sets: the pooling finds the last token that is not pad.
        model.config.get_text_config().pad_token_id = self.pad_id

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def sequences(self, prompts: Sequence[Conversation], completions: Sequence[str]
                  ) -> list[list[int]]:
        """The ids the reward model scores: prompt and completion as the rm trained on."""
        from plugtune.data.answers import encode_answers

        rendered = encode_answers(
            [(prompt, Message("assistant", text))
             for prompt, text in zip(prompts, completions, strict=True)],
            self.template, self.tokenizer,
        )
        ids = [r.ids[: r.end] for r in rendered]
        if self.cutoff_len:  # the rm cut its answers to fit cutoff_len
            ids = [i[: self.cutoff_len] for i in ids]
        return ids

    @torch.no_grad()
    def score(self, prompts: Sequence[Conversation], completions: Sequence[str]) -> list[float]:
        """One reward per completion: the model's score at its last token."""
        sequences = self.sequences(prompts, completions)
        size = self.batch_size if self.pad_id is not None else 1
        scores: list[float] = []
        for first in range(0, len(sequences), size):
            batch = sequences[first : first + size]
            width = max(len(ids) for ids in batch)
            pad = self.pad_id if self.pad_id is not None else 0
            input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids in batch],
                                     device=self.device)
            mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in batch],
                                device=self.device)
            logits = self.model(input_ids=input_ids, attention_mask=mask).logits
            scores += logits[:, 0].float().tolist()
        return scores


def load_reward_scorer(path: str, config: RunConfig, session: Any,
                       device: torch.device | str | None = None) -> RewardModelScorer:
    """The reward model in ``path`` (an ``rm`` run's output dir), frozen, in eval mode,
    on ``device``; ``config`` (the PPO run's) fills in what the folder does not say."""
    import yaml

    from plugtune.data.templates import resolve_template
    from plugtune.data.tokenizer import load_tokenizer
    from plugtune.training.run.finetuning import load_reward_model
    from plugtune.training.run.outputs import RUN_CONFIG

    folder = Path(path)
    if not folder.is_dir():
        raise ConfigError(f"trainer.reward_model: {path} is not a folder (give the output "
                          f"dir of an rm run, or a sequence-classification model)")
    saved: dict[str, Any] = {}
    if (folder / RUN_CONFIG).is_file():
        saved = yaml.safe_load((folder / RUN_CONFIG).read_text(encoding="utf-8")) or {}
    base = (ModelConfig(**saved["model"]) if saved.get("model")
            else config.model.model_copy(update={"adapter": None}))
    template_name = saved.get("template", config.template)
    cutoff_len = (saved.get("data") or {}).get("cutoff_len", config.data.cutoff_len)

    if (folder / ADAPTER_CONFIG).is_file():
        from peft import PeftConfig as AdapterConfig
        from peft import PeftModel

        adapter_config = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8"))
        if adapter_config.get("task_type") != "SEQ_CLS":
            raise ConfigError(
                f"trainer.reward_model: the adapter in {path} has task_type "
                f"{adapter_config.get('task_type')!r}, not SEQ_CLS (a reward model's, "
                f"as an rm run saves)")
        if not saved.get("model"):
            base = base.model_copy(update={
                "path": adapter_config.get("base_model_name_or_path") or base.path})
        model = load_reward_model(base.model_copy(update={"adapter": None}))
        if base.adapter:  # the rm started from an SFT adapter merged into its base
            merged = AdapterConfig.from_pretrained(base.adapter)
            if merged.task_type != "SEQ_CLS":
                merged.task_type = None
                model = PeftModel.from_pretrained(model, base.adapter,
                                                  config=merged).merge_and_unload()
        model = PeftModel.from_pretrained(model, str(folder))
        tokenizer = load_tokenizer(base)
    else:
        full = base.model_copy(update={"path": str(folder), "adapter": None})
        model = load_reward_model(full)
        tokenizer = load_tokenizer(full)
    model.eval()
    model.requires_grad_(False)
    if device is not None:
        model.to(device)
    template = resolve_template(session, template_name, tokenizer)
    log.info("reward model: %s", folder)
    return RewardModelScorer(model, tokenizer, template, cutoff_len)
