"""The policy and its critic as one module, because that is what gets trained.

Wrapping them together gives distributed training (DDP through accelerate) one module
whose gradients it averages, and one forward pass that yields both the completion
tokens' log-probabilities and their values from the same hidden states.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from plugtune.plugins.trainers.ppo import ppo_math
from plugtune.plugins.trainers.ppo.rollout import Rollout
from plugtune.plugins.trainers.ppo.value_head import ValueHead


class PolicyWithValue(nn.Module):
    """A PEFT causal LM (the policy) and a :class:`ValueHead` on its last hidden state."""

    def __init__(self, policy: Any, value_head: ValueHead, temperature: float) -> None:
        super().__init__()
        self.policy, self.value_head, self.temperature = policy, value_head, temperature

    def forward(self, rollout: Rollout, rows: slice | torch.Tensor, with_values: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Log-probabilities of the completion tokens of ``rows``, their values (None
        without ``with_values``) and the completion positions' logits."""
        output = self.policy(input_ids=rollout.input_ids[rows],
                             attention_mask=rollout.attention_mask[rows],
                             output_hidden_states=with_values, use_cache=False)
        start, length = rollout.prompt_length - 1, rollout.completion_ids.shape[1]
        logits = output.logits[:, start : start + length].float() / self.temperature
        logprobs = ppo_math.token_logprobs(logits, rollout.completion_ids[rows])
        values = None
        if with_values:
            values = self.value_head(output.hidden_states[-1][:, start : start + length])
        return logprobs, values, logits
