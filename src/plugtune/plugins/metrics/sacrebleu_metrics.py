"""BLEU-1..4, chrF and TER, computed by sacrebleu (scores on sacrebleu's 0–100 scale).

The corpus score is sacrebleu's corpus statistic (n-gram counts summed over the corpus,
not a mean of sentence scores); per-sample scores are sacrebleu's sentence scores. BLEU-1..4
share one n-gram count (sacrebleu's segment statistics at the top order) instead of one
scorer per order. A
sample with several references is scored against all of them; samples with fewer
references than others get None in the missing places, which sacrebleu skips (padding
with a repeated reference would change TER, whose length is the mean over references).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from plugtune.compat.sacrebleu import corpus_statistics
from plugtune.core.errors import ConfigError
from plugtune.plugins.metrics.text_metric import (
    MetricOptions,
    References,
    TextMetric,
    reference_lists,
    segment,
)


def _sacrebleu() -> Any:
    try:
        import sacrebleu
    except ImportError as error:
        raise ConfigError(
            "BLEU, chrF and TER need sacrebleu: pip install 'plugtune[eval]'"
        ) from error
    return sacrebleu


def _reference_streams(references: list[list[str]]) -> list[list[str | None]]:
    """sacrebleu's layout: one stream per reference position, each as long as the corpus;
    None where a sample has fewer references (sacrebleu's way for varying counts)."""
    count = max((len(candidates) for candidates in references), default=1)
    return [
        [candidates[i] if i < len(candidates) else None for candidates in references]
        for i in range(count)
    ]


def _segment_statistics(scorer: Any, hyps: list[str], refs: list[list[str]]) -> list[Any]:
    """sacrebleu's statistics of each sample over the corpus (the step ``corpus_score``
    sums)."""
    return corpus_statistics(scorer, hyps, _reference_streams(refs))


def _sentence_statistics(scorer: Any, hyp: str, refs: list[str]) -> Any:
    """One sample's statistics, extracted as ``sentence_score`` does (sample by sample
    measured no slower than one pass over the corpus, and keeps less in memory)."""
    return corpus_statistics(scorer, [hyp], [[ref] for ref in refs])[0]


class BleuOptions(MetricOptions):
    max_order: int = Field(4, ge=1, le=9, description="Report bleu-1 .. bleu-<max_order>.")
    tokenize: Literal["13a", "intl", "char", "none", "zh", "jieba"] | None = Field(
        None,
        description="sacrebleu's tokenizer, or jieba (segment with jieba, then split on "
        "spaces). Default: 13a, or zh (sacrebleu's: Chinese by characters) for language zh.",
    )
    smooth_method: Literal["exp", "floor", "add-k", "none"] = Field(
        "exp", description="sacrebleu's smoothing of zero n-gram counts."
    )
    smooth_value: float | None = Field(None, ge=0, description="For floor and add-k.")
    lowercase: bool = False


class Bleu(TextMetric):
    """BLEU-1..4 (sacrebleu): ``bleu-n`` is the geometric mean of the 1..n-gram
    precisions times the brevity penalty, 0–100."""

    name = "bleu"
    Options = BleuOptions
    options: BleuOptions

    @property
    def keys(self) -> list[str]:
        return [f"bleu-{n}" for n in range(1, self.options.max_order + 1)]

    def _prepare(
        self, predictions: Sequence[str], references: References
    ) -> tuple[list[str], list[list[str]], str]:
        refs = reference_lists(self.name, predictions, references)
        tokenize = self.options.tokenize or ("zh" if self.language == "zh" else "13a")
        hyps = list(predictions)
        if tokenize == "jieba":
            hyps = [segment(text, "zh") for text in hyps]
            refs = [[segment(text, "zh") for text in candidates] for candidates in refs]
            tokenize = "none"
        return hyps, refs, tokenize

    def _scorer(self, tokenize: str, *, sentence: bool) -> Any:
        return _sacrebleu().BLEU(
            max_ngram_order=self.options.max_order,
            tokenize=tokenize,
            smooth_method=self.options.smooth_method,
            smooth_value=self.options.smooth_value,
            lowercase=self.options.lowercase,
            effective_order=sentence,
        )

    def _orders(self, scorer: Any, stats: Sequence[int]) -> dict[str, float]:
        """``bleu-n`` for each order from one sample's (or the summed) statistics
        ``[hyp_len, ref_len, correct_1..N, total_1..N]``, as a BLEU of
        ``max_ngram_order=n`` computes it: sacrebleu's precisions and brevity penalty are
        computed once at the top order (each precision depends only on the orders up to
        it), then its final formula is applied to the first n. One ``compute_bleu``
        instead of n: it formats strings, which costs more than the formula."""
        from sacrebleu.utils import my_log

        top = self.options.max_order
        total = list(stats[2 + top : 2 + 2 * top])  # compute_bleu adds add-k's k to it
        full = scorer.compute_bleu(
            correct=list(stats[2 : 2 + top]), total=total,
            sys_len=int(stats[0]), ref_len=int(stats[1]),
            smooth_method=scorer.smooth_method, smooth_value=scorer.smooth_value,
            effective_order=scorer.effective_order, max_ngram_order=top,
        )
        # compute_bleu stops at the first order with no n-grams; effective_order stops
        # the mean there too
        counted = next((n for n, count in enumerate(total) if count == 0), top)
        scores = {}
        for order, key in enumerate(self.keys, start=1):
            if not any(stats[2 : 2 + order]):  # no matches: 0 (sacrebleu's early stop)
                scores[key] = 0.0
                continue
            used = min(order, counted) if scorer.effective_order else order
            scores[key] = full.bp * math.exp(
                sum([my_log(p) for p in full.precisions[:used]]) / used)
        return scores

    def __call__(self, predictions: Sequence[str], references: References) -> dict[str, float]:
        hyps, refs, tokenize = self._prepare(predictions, references)
        if not hyps:
            return dict.fromkeys(self.keys, 0.0)
        scorer = self._scorer(tokenize, sentence=False)
        rows = _segment_statistics(scorer, hyps, refs)
        return self._orders(scorer, [sum(column) for column in zip(*rows, strict=True)])

    def score_samples(
        self, predictions: Sequence[str], references: References
    ) -> list[dict[str, float]]:
        hyps, refs, tokenize = self._prepare(predictions, references)
        scorer = self._scorer(tokenize, sentence=True)
        return [self._orders(scorer, _sentence_statistics(scorer, hyp, candidates))
                for hyp, candidates in zip(hyps, refs, strict=True)]


class _SentenceLevel(TextMetric):
    """A sacrebleu metric whose corpus score is ``corpus_score`` over every pair and whose
    per-sample scores are ``sentence_score`` of each: subclasses give the scorer and how
    texts are prepared (segmented for Chinese)."""

    def _scorer(self) -> Any:
        raise NotImplementedError

    def _prepare(
        self, predictions: Sequence[str], references: References
    ) -> tuple[list[str], list[list[str]]]:
        raise NotImplementedError

    def __call__(self, predictions: Sequence[str], references: References) -> dict[str, float]:
        hyps, refs = self._prepare(predictions, references)
        if not hyps:
            return {self.name: 0.0}
        return {self.name: self._scorer().corpus_score(hyps, _reference_streams(refs)).score}

    def score_samples(
        self, predictions: Sequence[str], references: References
    ) -> list[dict[str, float]]:
        hyps, refs = self._prepare(predictions, references)
        scorer = self._scorer()
        return [
            {self.name: scorer.sentence_score(hyp, candidates).score}
            for hyp, candidates in zip(hyps, refs, strict=True)
        ]


class ChrfOptions(MetricOptions):
    char_order: int = Field(6, ge=1, description="Character n-grams up to this length.")
    word_order: int = Field(0, ge=0, description="2 gives chrF++.")
    beta: float = Field(2, gt=0, description="Weight of recall over precision.")
    lowercase: bool = False


class Chrf(_SentenceLevel):
    """chrF (sacrebleu): character n-gram F-score, 0–100; chrF++ with ``word_order: 2``.
    For ``language: zh`` the text is segmented with jieba first (only word n-grams see it)."""

    name = "chrf"
    Options = ChrfOptions
    options: ChrfOptions

    def _scorer(self) -> Any:
        return _sacrebleu().CHRF(
            char_order=self.options.char_order,
            word_order=self.options.word_order,
            beta=self.options.beta,
            lowercase=self.options.lowercase,
        )

    def _prepare(
        self, predictions: Sequence[str], references: References
    ) -> tuple[list[str], list[list[str]]]:
        refs = reference_lists(self.name, predictions, references)
        if self.language == "zh" and self.options.word_order:
            return (
                [segment(text, "zh") for text in predictions],
                [[segment(text, "zh") for text in candidates] for candidates in refs],
            )
        return list(predictions), refs


class TerOptions(MetricOptions):
    normalized: bool = False
    no_punct: bool = False
    case_sensitive: bool = False


class Ter(_SentenceLevel):
    """TER (sacrebleu): edits per reference word, 0 for identical texts (lower is
    better; can exceed 100). ``language: zh`` segments Chinese with jieba first."""

    name = "ter"
    Options = TerOptions
    options: TerOptions

    def _scorer(self) -> Any:
        return _sacrebleu().TER(
            normalized=self.options.normalized,
            no_punct=self.options.no_punct,
            case_sensitive=self.options.case_sensitive,
        )

    def _prepare(
        self, predictions: Sequence[str], references: References
    ) -> tuple[list[str], list[list[str]]]:
        refs = reference_lists(self.name, predictions, references)
        if self.language != "zh":
            return list(predictions), refs
        return (
            [segment(text, "zh") for text in predictions],
            [[segment(text, "zh") for text in candidates] for candidates in refs],
        )
