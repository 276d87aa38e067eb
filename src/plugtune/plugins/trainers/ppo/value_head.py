"""The critic: one ``Linear(hidden, 1)`` on the policy's last hidden state.

It shares the LoRA policy's trunk (no second model): the value of a position is read
from the same forward pass that gives the policy's logits, so the value loss trains the
adapter too. Saved next to the adapter as ``value_head.safetensors``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

VALUE_HEAD_FILE = "value_head.safetensors"


class ValueHead(nn.Module):
    """``V(s_t) = w · h_t + b`` on the last hidden state ``h_t`` (computed in float32)."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.linear = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.linear.weight)  # V = 0 at first: no random early targets
        nn.init.zeros_(self.linear.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """``(batch, T, hidden)`` → ``(batch, T)`` values."""
        return self.linear(hidden.float()).squeeze(-1)

    def save(self, folder: Path) -> Path:
        from safetensors.torch import save_file

        path = Path(folder) / VALUE_HEAD_FILE
        state = {key: value.detach().cpu().contiguous() for key, value in
                 self.linear.state_dict().items()}
        save_file(state, str(path))
        return path

    @classmethod
    def load(cls, folder: Path) -> ValueHead:
        from safetensors.torch import load_file

        state = load_file(str(Path(folder) / VALUE_HEAD_FILE))
        head = cls(state["weight"].shape[1])
        head.linear.load_state_dict(state)
        return head
