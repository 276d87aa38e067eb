"""transformers' ``Trainer``, counting real tokens and computing the output layer only
where the loss needs it (:mod:`plugtune.training.speed.trained_logits`).

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

from collections.abc import Sequence
from typing import Any

from transformers import Trainer

from plugtune.compat.transformers import (
    TrainerHooks,
    loss_takes_item_count,
    plain_causal_lm_loss,
)
from plugtune.training.rows.collators import NUM_TOKENS
from plugtune.training.speed.trained_logits import trained_logits_loss

#: transformers' samplers that group rows by length.
LENGTH_STRATEGIES = ("group_by_length", "batch_rebalance")


class CountingTrainer(TrainerHooks, Trainer):
    #: Run the output layer on trained positions only in training steps (False: on all).
    trained_logits_only = True

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any | None = None) -> Any:
        tokens = inputs.pop(NUM_TOKENS, 0)
        if model.training:
            self.state.num_input_tokens_seen += self._all_ranks(tokens)
        head = self._output_layer(model, inputs) if not return_outputs else None
        if head is not None:
            items = num_items_in_batch if loss_takes_item_count(self) else None
            loss = trained_logits_loss(model, head, inputs, items)
            if loss is not None:
                return self._averaged_across_devices(loss, num_items_in_batch)
        return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                    num_items_in_batch=num_items_in_batch)

    def _output_layer(self, model: Any, inputs: dict[str, Any]) -> Any | None:
        """The output layer, when this step's loss can be computed on trained positions
        only: a training step with labels and transformers' plain causal-LM loss (no
        label smoothing, no custom loss, no sequence parallelism)."""
        parallelism = getattr(self.accelerator, "parallelism_config", None)
        if (not self.trained_logits_only or not model.training or "labels" not in inputs
                or not plain_causal_lm_loss(self)
                or getattr(parallelism, "sp_enabled", False)):
            return None
        unwrapped = self.accelerator.unwrap_model(model)
        getter = getattr(unwrapped, "get_output_embeddings", None)
        return getter() if callable(getter) else None

    def _averaged_across_devices(self, loss: Any, num_items_in_batch: Any | None) -> Any:
        """What ``Trainer.compute_loss`` does to a loss normalised by the token count of
        all processes' batches, so that gradients average as they would there."""
        if (self.args.average_tokens_across_devices and loss_takes_item_count(self)
                and num_items_in_batch is not None):
            scale = self.accelerator.num_processes // self.get_tp_size()
            loss = loss * (scale if self.args.n_gpu <= 1 else self.args.n_gpu)
        return loss

    def sampler_rows(self, dataset: Any) -> Any:
        """transformers' length-aware samplers (``train_sampling_strategy:
        group_by_length`` or ``batch_rebalance``) read each row's ``input_ids`` from a
        dict, so plugtune's rows are shown to them as such (a sampler keeps only the
        lengths; the loader still reads the rows)."""
        if (self.args.train_sampling_strategy in LENGTH_STRATEGIES
                and isinstance(dataset, Sequence)
                and dataset and hasattr(dataset[0], "input_ids")):
            return [{"input_ids": row.input_ids} for row in dataset]
        return dataset

    def count_batch_tokens(self, inputs: Any) -> None:
        """transformers' count of the batch: not added, :meth:`compute_loss` counts."""

    def _all_ranks(self, tokens: int) -> int:
        if self.args.world_size == 1:
            return tokens
        import torch

        count = torch.tensor(tokens, device=self.args.device, dtype=torch.int64)
        return int(self.accelerator.gather(count).sum().item())
