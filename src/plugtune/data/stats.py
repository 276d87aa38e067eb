"""Dataset statistics: lengths, truncation, and what batching costs in padding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from plugtune.data.encoding import IGNORE_INDEX, EncodedExample, EncodingReport
from plugtune.data.packing import pack_examples

PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class SplitStats:
    records: int
    examples: int
    dropped: int
    truncated: int
    truncated_answers: int
    length_percentiles: dict[str, int]
    label_ratio: float  # trained tokens / tokens
    padding_ratio: float  # pad tokens / batch tokens, batches in data order
    packed_rows: int
    packed_fill: float  # real tokens / packed capacity


def percentile(sorted_values: Sequence[int], q: float) -> int:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return 0
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(rank) - 1]


def padding_ratio(lengths: Sequence[int], batch_size: int) -> float:
    """Share of padding when consecutive examples are batched and padded to the longest."""
    padded = sum(
        max(lengths[i : i + batch_size]) * len(lengths[i : i + batch_size])
        for i in range(0, len(lengths), batch_size)
    )
    return 1 - sum(lengths) / padded if padded else 0.0


def split_stats(
    examples: Sequence[EncodedExample], report: EncodingReport, batch_size: int, cutoff_len: int
) -> SplitStats:
    lengths = [len(example.input_ids) for example in examples]
    ordered = sorted(lengths)
    labelled = sum(sum(t != IGNORE_INDEX for t in e.labels) for e in examples)
    rows = pack_examples(examples, cutoff_len) if examples else []
    return SplitStats(
        records=report.records,
        examples=len(examples),
        dropped=report.dropped_count,
        truncated=report.truncated,
        truncated_answers=report.truncated_answers,
        length_percentiles={
            **{f"p{q}": percentile(ordered, q) for q in PERCENTILES},
            "max": ordered[-1] if ordered else 0,
        },
        label_ratio=labelled / sum(lengths) if lengths else 0.0,
        padding_ratio=padding_ratio(lengths, batch_size),
        packed_rows=len(rows),
        packed_fill=sum(lengths) / (len(rows) * cutoff_len) if rows else 0.0,
    )
