"""Show encoded examples with the trained spans visible."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby
from typing import Any

from plugtune.data.encoding import IGNORE_INDEX, EncodedExample


def labelled_pieces(example: EncodedExample, tokenizer: Any) -> Iterator[tuple[str, bool]]:
    """The example's text as ``(text, trained)`` runs of consecutive tokens."""
    pairs = zip(example.input_ids, example.labels, strict=True)
    for trained, run in groupby(pairs, key=lambda pair: pair[1] != IGNORE_INDEX):
        ids = [token for token, _ in run]
        yield tokenizer.decode(ids, skip_special_tokens=False), trained
