"""Benchmark evaluation: multiple-choice benchmarks (C-Eval, MMLU, CMMLU layouts) scored
by next-token logits over the choice letters. ``plugtune eval`` runs it; torch and
transformers are imported only when a benchmark runs."""

from __future__ import annotations

__all__ = ["benchmarks", "choices"]
