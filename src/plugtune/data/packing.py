"""Packing: several short examples per row, so a batch carries tokens instead of padding.

Each packed row keeps its samples apart: ``position_ids`` restart at every sample and
``sequence_ids`` (1, 1, 2, 2, 2, …) say which sample a token belongs to, from which the
trainer builds a block-diagonal attention mask (or flash attention's varlen lengths).
Labels of one sample never see another, because each sample's first label is masked
(a prompt token) or, for raw text, the boundary is a fresh sequence.

Examples are packed :data:`PACK_CHUNK` at a time, in order: a stream of any length is
packed in constant memory, and first-fit (quadratic in the rows of a chunk) stays fast.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from plugtune.data.encoding import EncodedExample, batches

#: Examples packed together: enough that first-fit fills rows as well as it would with
#: all of them (short examples fill the gaps the long ones leave within a chunk).
PACK_CHUNK = 4096


@dataclass(frozen=True, slots=True)
class PackedRow:
    input_ids: list[int]
    labels: list[int]
    position_ids: list[int]
    sequence_ids: list[int]


def pack_examples(examples: Iterable[EncodedExample], capacity: int) -> list[PackedRow]:
    """:func:`pack_stream` into a list."""
    return list(pack_stream(examples, capacity))


def pack_stream(examples: Iterable[EncodedExample], capacity: int) -> Iterator[PackedRow]:
    """Each :data:`PACK_CHUNK` examples packed by :func:`pack_chunk`, in order."""
    for chunk in batches(examples, PACK_CHUNK):
        yield from pack_chunk(chunk, capacity)


def pack_chunk(examples: Sequence[EncodedExample], capacity: int) -> list[PackedRow]:
    """First-fit-decreasing bin packing into rows of at most ``capacity`` tokens.

    Deterministic: ties keep input order. Examples longer than ``capacity`` (which
    encoding already truncates) get a row of their own.
    """
    order = sorted(range(len(examples)), key=lambda i: -len(examples[i].input_ids))
    bins: list[list[int]] = []
    free: list[int] = []
    for index in order:
        length = len(examples[index].input_ids)
        for slot, room in enumerate(free):
            if length <= room:
                bins[slot].append(index)
                free[slot] -= length
                break
        else:
            bins.append([index])
            free.append(capacity - length)
    return [_join([examples[i] for i in members]) for members in bins]


def _join(members: Sequence[EncodedExample]) -> PackedRow:
    input_ids: list[int] = []
    labels: list[int] = []
    position_ids: list[int] = []
    sequence_ids: list[int] = []
    for number, example in enumerate(members, start=1):
        input_ids += example.input_ids
        labels += example.labels
        position_ids += range(len(example.input_ids))
        sequence_ids += [number] * len(example.input_ids)
    return PackedRow(input_ids, labels, position_ids, sequence_ids)


def packed_attention_mask(sequence_ids: Sequence[Sequence[int]]) -> Any:
    """A 4D boolean mask ``[batch, 1, length, length]`` for packed rows: causal, and a
    token attends only to tokens of its own sample. Rows are right-padded with sequence
    id 0, which attends to nothing. transformers models take it as ``attention_mask``
    together with the rows' ``position_ids``."""
    import torch

    length = max(len(row) for row in sequence_ids)
    ids = torch.zeros(len(sequence_ids), length, dtype=torch.long)
    for index, row in enumerate(sequence_ids):
        ids[index, : len(row)] = torch.as_tensor(row)
    same_sample = (ids[:, :, None] == ids[:, None, :]) & (ids[:, :, None] > 0)
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    return (same_sample & causal)[:, None]
