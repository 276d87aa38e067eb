"""transformers' ``Trainer``, counting real tokens.

plugtune's collators put each batch's non-pad token count in the batch; this pops it
before the forward pass and adds it to ``state.num_input_tokens_seen``, which is saved
with each checkpoint (so a resumed run keeps counting) and drives tokens/s.

transformers counts too when ``include_num_input_tokens_seen`` is set (LLaMA-Factory
configs set ``non_padding``): both counts landed in the same total, doubling it, and with
packed rows transformers' ``attention_mask.sum()`` of the 4D mask is no token count at
all. So transformers' own count is switched off here, whatever that argument says; it
still decides whether the logs show the total.
"""

from __future__ import annotations

from typing import Any

from transformers import Trainer

from plugtune.training.collators import NUM_TOKENS


class CountingTrainer(Trainer):
    def compute_loss(self, model: Any, inputs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        tokens = inputs.pop(NUM_TOKENS, 0)
        if model.training:
            self.state.num_input_tokens_seen += self._all_ranks(tokens)
        return super().compute_loss(model, inputs, *args, **kwargs)

    def _track_num_input_tokens(self, inputs: Any) -> None:
        """transformers' count of the batch: not added, :meth:`compute_loss` counts."""

    def _all_ranks(self, tokens: int) -> int:
        if self.args.world_size == 1:
            return tokens
        import torch

        count = torch.tensor(tokens, device=self.args.device, dtype=torch.int64)
        return int(self.accelerator.gather(count).sum().item())
