"""Batches for causal-LM training: right-padded rows, or packed rows kept apart.

Each batch also carries ``num_tokens``, its count of real (non-pad) tokens, which the
trainer pops before the forward pass: with packed rows the attention mask is 4D, so
transformers' own ``attention_mask.sum()`` count would be wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
