"""Rollouts: the completions a PPO step learns from, sampled by the policy (online) or
taken from the records' gold answers (offline), laid out for one forward pass."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class Rollout:
    """One batch of sequences and what the no-grad pass knows about them."""

    input_ids: torch.Tensor  # (B, P + T): left-padded prompt, right-padded completion
    attention_mask: torch.Tensor
    completion_ids: torch.Tensor  # (B, T)
    mask: torch.Tensor  # (B, T) float: 1 on completion tokens
    prompt_length: int
    texts: list[str]  # decoded completions


def gold_completion(columns: dict[str, Any]) -> str | None:
    """A record's gold answer: ``answer``, else the first of ``gold_answers``."""
    if columns.get("answer") is not None:
        return str(columns["answer"])
    gold = columns.get("gold_answers")
    return str(gold[0]) if gold else None


def completion_mask(completion: torch.Tensor, stop_ids: Sequence[int]) -> torch.Tensor:
    """1 on each completion's tokens up to and including its first stop token."""
    stops = torch.isin(completion, torch.tensor(list(stop_ids), device=completion.device))
    # the number of stops strictly before each position: 0 means still in the completion
    before = torch.cumsum(stops.long(), dim=1) - stops.long()
    return (before == 0).float()


class RolloutMaker:
    """Turns prompt rows into rollouts; knows the prompts, their gold answers, the
    tokenizer and the tokens that end a completion."""

    def __init__(self, tokenizer: Any, prompts: Sequence[str], columns: Sequence[dict[str, Any]],
                 stop_ids: Sequence[int], max_new_tokens: int, temperature: float) -> None:
        self.tokenizer, self.prompts, self.columns = tokenizer, prompts, columns
        self.stop_ids = list(stop_ids)
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else self.stop_ids[0]
        self.max_new_tokens, self.temperature = max_new_tokens, temperature

    def encode_prompts(self, rows: Sequence[int], device: torch.device
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        side = self.tokenizer.padding_side
        self.tokenizer.padding_side = "left"
        try:
            encoded = self.tokenizer([self.prompts[i] for i in rows], return_tensors="pt",
                                     padding=True, add_special_tokens=False)
        finally:
            self.tokenizer.padding_side = side
        return encoded.input_ids.to(device), encoded.attention_mask.to(device)

    @torch.no_grad()
    def make(self, model: Any, rows: Sequence[int], online: bool) -> Rollout:
        """Sample a completion per row with ``model`` (online), or take the gold answers."""
        device = next(model.parameters()).device
        prompt_ids, prompt_mask = self.encode_prompts(rows, device)
        if online:
            output = model.generate(
                input_ids=prompt_ids, attention_mask=prompt_mask, do_sample=True,
                temperature=self.temperature, top_k=0, top_p=1.0,
                max_new_tokens=self.max_new_tokens, eos_token_id=self.stop_ids,
                pad_token_id=self.pad_id,
            )
            completion = output[:, prompt_ids.shape[1]:]
            mask = completion_mask(completion, self.stop_ids)
        else:
            completion, mask = self._gold(rows, device)
        completion = torch.where(mask.bool(), completion, torch.full_like(completion, self.pad_id))
        texts = self.tokenizer.batch_decode(
            [c[m.bool()] for c, m in zip(completion, mask, strict=True)],
            skip_special_tokens=True)
        return Rollout(
            input_ids=torch.cat([prompt_ids, completion], dim=1),
            attention_mask=torch.cat([prompt_mask, mask.long()], dim=1),
            completion_ids=completion, mask=mask, prompt_length=prompt_ids.shape[1],
            texts=texts,
        )

    def _gold(self, rows: Sequence[int], device: torch.device
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """The gold answers, cut to ``max_new_tokens`` with their end-of-turn token."""
        limit = self.max_new_tokens - 1
        ids = [self.tokenizer(gold_completion(self.columns[i]) or "",
                              add_special_tokens=False).input_ids[:limit]
               + self.stop_ids[:1] for i in rows]
        width = max(len(i) for i in ids)
        completion = torch.tensor([i + [self.pad_id] * (width - len(i)) for i in ids],
                                  device=device)
        mask = torch.tensor([[1.0] * len(i) + [0.0] * (width - len(i)) for i in ids],
                            device=device)
        return completion, mask
