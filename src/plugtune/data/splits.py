"""Sampling, mixing and splitting record lists, deterministically from a seed.

The same config and seed always give the same records in the same order: a run can be
repeated, and a dev split never leaks into training between two runs.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from itertools import zip_longest
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
    """``concat``: one dataset after the other, in config order. ``interleave``: one
    record of each in turn until all are used up (no record is dropped)."""
    if strategy == "concat":
        return [record for dataset in datasets for record in dataset]
    rounds = zip_longest(*datasets, fillvalue=_GAP)
    return [record for group in rounds for record in group if record is not _GAP]  # type: ignore[misc]


def split(records: Sequence[T], val_size: float, seed: int) -> tuple[list[T], list[T]]:
    """A ``val_size`` share (rounded up, as ``datasets.train_test_split``) held out at
    random; both parts keep the records' original order."""
    if val_size <= 0:
        return list(records), []
    held = math.ceil(len(records) * val_size)
    if held >= len(records):
        raise ConfigError(
            f"val_size {val_size} of {len(records)} records leaves nothing to train on"
        )
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    dev = set(order[:held])
    train = [record for index, record in enumerate(records) if index not in dev]
    return train, [record for index, record in enumerate(records) if index in dev]
