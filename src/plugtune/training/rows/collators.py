"""Batches for causal-LM training: right-padded rows, or packed rows kept apart.

Each batch also carries ``num_tokens``, its count of real (non-pad) tokens, which the
trainer pops before the forward pass: with packed rows the attention mask is 4D, so
transformers' own ``attention_mask.sum()`` count would be wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from plugtune.data.encoding import IGNORE_INDEX, EncodedExample
from plugtune.data.packing import PackedRow, packed_attention_mask

NUM_TOKENS = "num_tokens"


def pad_id(tokenizer: Any) -> int:
    """The token batches are padded with: the tokenizer's pad token, else its EOS."""
    found = tokenizer.pad_token_id
    return int(tokenizer.eos_token_id if found is None else found)


def _padded(rows: Sequence[Sequence[int]], value: int, length: int) -> Any:
    import torch

    batch = torch.full((len(rows), length), value, dtype=torch.long)
    for index, row in enumerate(rows):
        batch[index, : len(row)] = torch.as_tensor(row, dtype=torch.long)
    return batch


def _batch_length(rows: Sequence[Sequence[int]], multiple_of: int | None) -> int:
    length = max(len(row) for row in rows)
    if multiple_of:
        length = -(-length // multiple_of) * multiple_of
    return length


@dataclass(frozen=True)
class PaddingCollator:
    """Right-pads encoded examples to the longest in the batch (rounded up to
    ``pad_to_multiple_of``, which helps GPU kernels and only costs compute on a CPU)."""

    pad_token_id: int
    pad_to_multiple_of: int | None = None

    def __call__(self, examples: Sequence[EncodedExample]) -> dict[str, Any]:
        import torch

        ids = [example.input_ids for example in examples]
        length = _batch_length(ids, self.pad_to_multiple_of)
        lengths = torch.as_tensor([len(row) for row in ids])
        return {
            "input_ids": _padded(ids, self.pad_token_id, length),
            "labels": _padded([example.labels for example in examples], IGNORE_INDEX, length),
            "attention_mask": (torch.arange(length)[None, :] < lengths[:, None]).long(),
            NUM_TOKENS: int(lengths.sum()),
        }


@dataclass(frozen=True)
class PackedCollator:
    """Packed rows with restarting ``position_ids`` and a block-diagonal causal mask,
    so no token attends to another sample of its row."""

    pad_token_id: int
    pad_to_multiple_of: int | None = None

    def __call__(self, rows: Sequence[PackedRow]) -> dict[str, Any]:
        ids = [row.input_ids for row in rows]
        length = _batch_length(ids, self.pad_to_multiple_of)
        sequence_ids = [row.sequence_ids + [0] * (length - len(row.sequence_ids)) for row in rows]
        return {
            "input_ids": _padded(ids, self.pad_token_id, length),
            "labels": _padded([row.labels for row in rows], IGNORE_INDEX, length),
            "position_ids": _padded([row.position_ids for row in rows], 0, length),
            "attention_mask": packed_attention_mask(sequence_ids),
            NUM_TOKENS: sum(len(row) for row in ids),
        }


@dataclass(frozen=True)
class FlatCollator:
    """A padding-free batch: every example of the batch (every sample of a packed row)
    one after another in a single row, ``position_ids`` restarting at each, and their
    boundaries as flash-attention's varlen arguments (``cu_seq_lens_q/k``,
    ``max_length_q/k``), which transformers hands through the model to its attention
    (:mod:`plugtune.training.speed.padding_free`). No mask is built, nothing is padded.

    The first label of each example is ignored: the loss shifts labels along the row,
    and no example may learn to predict the next one's first token (a padded batch
    never reads that label either)."""

    def __call__(self, rows: Sequence[Any]) -> dict[str, Any]:
        import torch

        pieces = [piece for row in rows for piece in _samples(row)]
        lengths = [len(ids) for ids, _ in pieces]
        ids = [token for piece_ids, _ in pieces for token in piece_ids]
        labels = [label for _, piece_labels in pieces
                  for label in (IGNORE_INDEX, *piece_labels[1:])]
        return {
            "input_ids": torch.as_tensor([ids], dtype=torch.long),
            "labels": torch.as_tensor([labels], dtype=torch.long),
            "position_ids": torch.as_tensor([[p for n in lengths for p in range(n)]]),
            **varlen_boundaries(torch.as_tensor(lengths)),
            NUM_TOKENS: len(ids),
        }


def varlen_boundaries(lengths: Any) -> dict[str, Any]:
    """Flash-attention's varlen arguments for examples of ``lengths`` (a 1D tensor) side
    by side in one row: their offsets from 0 (``cu_seq_lens_q/k``, int32) and the
    longest (``max_length_q/k``), under the names transformers hands to the attention."""
    import torch

    bounds = torch.zeros(len(lengths) + 1, dtype=torch.int32, device=lengths.device)
    bounds[1:] = lengths.cumsum(0)
    longest = int(lengths.max())
    return {"cu_seq_lens_q": bounds, "cu_seq_lens_k": bounds,
            "max_length_q": longest, "max_length_k": longest}


def _samples(row: Any) -> list[tuple[Sequence[int], Sequence[int]]]:
    """The (input ids, labels) of each sample in a row: a packed row's samples (by its
    ``sequence_ids``), else the row itself."""
    sequence_ids = getattr(row, "sequence_ids", None)
    if sequence_ids is None:
        return [(row.input_ids, row.labels)]
    starts = [i for i, sample in enumerate(sequence_ids) if i == 0 or sample != sequence_ids[i - 1]]
    return [(row.input_ids[start:end], row.labels[start:end])
            for start, end in pairwise([*starts, len(sequence_ids)])]
