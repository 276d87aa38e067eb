"""The reaches into sacrebleu's internals (checked against sacrebleu 2.6.0).

Each entry names what it relies on; tests/test_compat_contracts.py pins each one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def corpus_statistics(scorer: Any, hyps: Sequence[str],
                      reference_streams: Sequence[Sequence[str | None]]) -> list[Any]:
    """Each sample's sufficient statistics (the step ``corpus_score`` sums, and
    ``sentence_score`` takes for one sample): a metric's private
    ``_extract_corpus_statistics(hypotheses, references)``, ``references`` being one
    stream per reference position, each as long as the corpus."""
    return list(scorer._extract_corpus_statistics(hyps, reference_streams))
