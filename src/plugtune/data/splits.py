"""Sampling, mixing and splitting records, deterministically from a seed.

The same config and seed always give the same records in the same order: a run can be
repeated, and a dev split never leaks into training between two runs. Mixing and the
``val_size`` split also work on streams (records read as they are used): the split needs
only the count of records, and keeps one byte per record, not the records.
"""

from __future__ import annotations

import itertools
import math
import random
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import Literal, TypeVar

from plugtune.core.errors import ConfigError

T = TypeVar("T")
_GAP = object()


def sample(records: Sequence[T], count: int, seed: int) -> list[T]:
    """LLaMA-Factory's ``num_samples``: a random ``count`` of the records, every record
    at most once while there are enough, then repeats drawn at random."""
    rng = random.Random(seed)
    order = list(range(len(records)))
    rng.shuffle(order)
    chosen = order[:count]
    if count > len(records) and records:
        chosen += rng.choices(range(len(records)), k=count - len(records))
    return [records[index] for index in chosen]


def mix(datasets: Sequence[Sequence[T]], strategy: Literal["concat", "interleave"]) -> list[T]:
    """:func:`mix_streams` into a list."""
    return list(mix_streams(datasets, strategy))


def mix_streams(
    streams: Sequence[Iterable[T]], strategy: Literal["concat", "interleave"]
) -> Iterator[T]:
    """``concat``: one dataset after the other, in config order. ``interleave``: one
    record of each in turn until all are used up (no record is dropped)."""
    if strategy == "concat":
        yield from itertools.chain.from_iterable(streams)
        return
    rounds = itertools.zip_longest(*streams, fillvalue=_GAP)
    yield from (record for group in rounds for record in group if record is not _GAP)  # type: ignore[misc]


def split(records: Sequence[T], val_size: float, seed: int) -> tuple[list[T], list[T]]:
    """A ``val_size`` share (rounded up, as ``datasets.train_test_split``) held out at
    random; both parts keep the records' original order."""
    if val_size <= 0:
        return list(records), []
    dev = held_out(len(records), val_size, seed)
    train = [record for index, record in enumerate(records) if not dev[index]]
    return train, [record for index, record in enumerate(records) if dev[index]]


def held_out(count: int, val_size: float, seed: int) -> bytearray:
    """Which of ``count`` records the ``val_size`` split holds out (1) or trains on (0).

    ``random.Random(seed).shuffle`` of the indices, the first share held out: a stream
    counted once is split exactly as the same records in a list."""
    held = math.ceil(count * val_size)
    if held >= count:
        raise ConfigError(f"val_size {val_size} of {count} records leaves nothing to train on")
    order = array("q", range(count))  # 8 bytes a record, freed on return
    random.Random(seed).shuffle(order)  # type: ignore[arg-type]
    mask = bytearray(count)
    for index in order[:held]:
        mask[index] = 1
    return mask


def shuffle_stream(items: Iterable[T], buffer_size: int, seed: int) -> Iterator[T]:
    """``items`` in a random order drawn from a buffer of ``buffer_size`` (what
    ``datasets.IterableDataset.shuffle`` does): each item comes at most ``buffer_size``
    places early; memory holds the buffer, never the stream."""
    rng = random.Random(seed)
    buffer: list[T] = []
    for item in items:
        if len(buffer) < buffer_size:
            buffer.append(item)
            continue
        index = rng.randrange(buffer_size)
        yield buffer[index]
        buffer[index] = item
    rng.shuffle(buffer)
    yield from buffer
