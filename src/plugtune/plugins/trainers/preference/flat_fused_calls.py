"""Padding-free batches for TRL's preference trainers, whose padding TRL chooses.

TRL's ``DPOTrainer`` pads each batch of chosen and rejected sequences to the longest and
asks the model for per-token log-probabilities through its fused LM head —
``model(input_ids=…, attention_mask=…, labels=…, fused_lm_head=True)``, for the policy
and again for the reference — and TRL 1.16 switches its own ``padding_free`` off. Two
hooks on the model make exactly that call padding-free (:func:`flat_fused_calls`):

- before it, the right-padded batch becomes one row of its sequences: ``position_ids``
  restarting at each, their boundaries for the attention (``cu_seq_lens_q/k``, as
  :class:`~plugtune.training.rows.collators.FlatCollator` gives them), and the labels shifted
  within each sequence, handed over as ``shift_labels`` (TRL's fused head scores those
  as they are, so no sequence scores the next one's first token);
- after it, every per-token output goes back to the padded batch's layout
  (``batch × (length − 1)``, zero where nothing is scored), so TRL's loss, metrics and
  reference log-probabilities are what the padded call gives.

Any other call (generation, images, other arguments, left padding) passes untouched.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from plugtune.compat.trl import FUSED_CALL, FUSED_CALL_SWITCH
from plugtune.data.encoding import IGNORE_INDEX
from plugtune.training.rows.collators import varlen_boundaries


@contextmanager
def flat_fused_calls(*models: Any) -> Iterator[None]:
    """Within the block, each of ``models`` (the policy, a separate reference) takes
    TRL's fused log-probability calls as one flat row."""
    with ExitStack() as stack:
        for model in models:
            layouts: list[Any] = []
            before = model.register_forward_pre_hook(_flatten_hook(layouts), with_kwargs=True)
            after = model.register_forward_hook(_unflatten_hook(layouts), with_kwargs=True)
            stack.callback(before.remove)
            stack.callback(after.remove)
        yield


def _flatten_hook(layouts: list[Any]) -> Any:
    def flatten(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if args or not kwargs.get(FUSED_CALL_SWITCH) or not set(kwargs) <= FUSED_CALL:
            return None
        flat = flat_call(kwargs["input_ids"], kwargs["attention_mask"], kwargs["labels"])
        if flat is None:
            return None
        layouts.append(kwargs["attention_mask"].bool())
        return (), flat

    return flatten


def _unflatten_hook(layouts: list[Any]) -> Any:
    def unflatten(_module: Any, _args: Any, kwargs: dict[str, Any], output: Any) -> Any:
        if "cu_seq_lens_q" not in kwargs or "shift_labels" not in kwargs or not layouts:
            return None
        return padded_outputs(output, layouts.pop())

    return unflatten


def flat_call(input_ids: Any, attention_mask: Any, labels: Any) -> dict[str, Any] | None:
    """The fused call's arguments for one row of the batch's sequences, or None when the
    batch is not right-padded."""
    import torch
    import torch.nn.functional as functional

    lengths = attention_mask.sum(dim=1)
    places = torch.arange(input_ids.shape[1], device=input_ids.device)
    keep = places[None, :] < lengths[:, None]
    if not torch.equal(keep, attention_mask.bool()):
        return None
    # each position's next label within its own row; a row's last token has none
    shifted = functional.pad(labels[:, 1:], (0, 1), value=IGNORE_INDEX)
    shifted = shifted.masked_fill(places[None, :] == lengths[:, None] - 1, IGNORE_INDEX)
    return {
        "input_ids": input_ids[keep][None],
        "position_ids": places.expand_as(input_ids)[keep][None],
        "shift_labels": shifted[keep][None],
        **varlen_boundaries(lengths),
        "fused_lm_head": True, "use_cache": False,
    }


def padded_outputs(output: Any, keep: Any) -> Any:
    """``output``'s per-token fields (one flat row) in the padded batch's layout:
    ``batch × (length − 1)``, position i scoring token i + 1, zero elsewhere."""
    import torch

    for key, value in list(output.items()):
        if torch.is_tensor(value) and value.dim() == 2 and value.shape[0] == 1:
            padded = value.new_zeros(keep.shape).masked_scatter(keep, value[0])
            output[key] = padded[:, :-1]
    return output
