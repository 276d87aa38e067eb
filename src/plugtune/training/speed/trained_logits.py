"""The causal-LM loss with the output layer run only where the loss reads it.

A causal LM's loss reads the logits of the positions whose next token is trained; prompt
and padding positions are thrown away. Yet the model computes them all, and the output
layer is the largest matrix product there is (vocabulary × hidden per position): about
40% of the tiny model's forward and a quarter of Qwen2.5-0.5B's, and SFT prompts are
often half the tokens. So for the training step the output layer gets only the trained
positions: a forward pre-hook on it keeps the rows of its input whose shifted label is
not ignored, the model runs as usual (through DDP, DeepSpeed or FSDP, whatever
post-processing of the logits it does after the output layer: soft-capping, scaling),
and the cross-entropy is taken over those rows with transformers' own reduction (a sum
over the accumulated batch's token count, or a mean). Loss and gradients are those of the
full computation (tests/test_trained_logits.py).

The hook sees the output layer's input as the model hands it over (batch × positions ×
hidden); if a model calls its output layer otherwise, or not at all, the logits do not
have the expected shape and the step falls back to the full computation, so a model
this does not fit trains as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from plugtune.data.encoding import IGNORE_INDEX


def shifted_labels(labels: Any) -> Any:
    """The label of the token each position predicts (the next one; the last predicts
    nothing), as transformers' causal-LM loss shifts them."""
    import torch.nn.functional as functional

    return functional.pad(labels[:, 1:], (0, 1), value=IGNORE_INDEX)


@contextmanager
def output_rows(head: Any, keep: Any) -> Iterator[dict[str, bool]]:
    """Within the block, ``head`` (the output layer) is given only the positions where
    ``keep`` (batch × positions) is true, as one row of ``keep.sum()`` positions. The
    yielded dict's ``"used"`` says whether the head was called with the expected shape."""
    state = {"used": False}

    def keep_rows(_module: Any, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        hidden = args[0]
        if state["used"] or hidden.dim() != 3 or hidden.shape[:2] != keep.shape:
            return None  # not the call this is for: leave it alone
        state["used"] = True
        return (hidden[keep].unsqueeze(0), *args[1:])

    handle = head.register_forward_pre_hook(keep_rows)
    try:
        yield state
    finally:
        handle.remove()


def trained_logits_loss(model: Any, head: Any, inputs: dict[str, Any],
                        num_items_in_batch: Any | None) -> Any | None:
    """The causal-LM loss of ``inputs`` (which hold ``labels``) with ``head`` run on the
    trained positions only; None when the model did not call ``head`` as expected (the
    caller then computes the loss the usual way)."""
    import torch
    import torch.nn.functional as functional

    labels = inputs["labels"]
    targets = shifted_labels(labels)
    keep = targets != IGNORE_INDEX
    features = {key: value for key, value in inputs.items() if key != "labels"}
    with output_rows(head, keep) as state:
        logits = model(**features).logits
    if not state["used"] or logits.shape[:2] != (1, int(keep.sum())):
        return None
    # flatten, not [0]: a view, whose backward copies no (positions × vocabulary) tensor
    rows = logits.flatten(0, 1).float()
    loss = functional.cross_entropy(rows, targets[keep].to(logits.device),
                                    reduction="mean" if num_items_in_batch is None else "sum")
    if num_items_in_batch is None:
        return loss
    if torch.is_tensor(num_items_in_batch):
        num_items_in_batch = num_items_in_batch.to(loss.device)
    return loss / num_items_in_batch
