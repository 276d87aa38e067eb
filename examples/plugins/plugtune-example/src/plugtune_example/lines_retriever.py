"""The ``lines`` retriever: RAG passages from a text file, one per line.

A retriever's one duty is ``retrieve(question, k)``: the passages most related to the
question, closest first. plugtune does the rest — ``predict``, ``chat`` and ``serve``
put them into the last user message and ``predict`` saves them with each answer
(``context`` in ``generated_predictions.jsonl``)::

    retriever: {name: lines, path: notes.txt, k: 2}

Passages are ranked by how many of the question's words they share (case-folded,
common English function words ignored), ties in file order; a line sharing none is
never returned. No embedding model, no index: a baseline to compare a vector store
with, and a retriever for a short, hand-written list of facts. ``k`` is also read by
plugtune as the number of passages to put in the prompt.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from plugtune.core.errors import ConfigError
from plugtune.core.records import Passage
from plugtune.sdk.reward_text import words

# Words that every question and passage share; counting them would rank noise.
STOP_WORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "do", "does", "for", "from", "how",
    "in", "is", "it", "of", "on", "or", "that", "the", "this", "to", "was", "what", "when",
    "where", "which", "who", "why", "with",
})


class LinesOptions(BaseModel):
    """Options of the ``lines`` retriever."""

    model_config = ConfigDict(extra="forbid")

    path: Path = Field(description="A UTF-8 text file; each non-blank line is a passage.")
    k: int = Field(3, ge=1, description="Passages per question.")


def content_words(text: str) -> set[str]:
    """The words of ``text`` that carry meaning, case-folded."""
    return {word.casefold() for word in words(text)} - STOP_WORDS


class LinesRetriever:
    """Lines of a text file that share the most words with the question."""

    Options: ClassVar[type[BaseModel]] = LinesOptions

    def __init__(self, path: Path, k: int = 3) -> None:
        self.path = Path(path)
        self.k = k
        self._lines: list[tuple[int, str, set[str]]] | None = None

    def open(self) -> None:
        """Read the file (plugtune calls this before the model loads, so a missing file
        fails fast; building the retriever, as config validation does, reads nothing)."""
        self._read()

    def retrieve(self, question: str, k: int) -> list[Passage]:
        """Up to ``k`` passages sharing words with ``question``, the most shared first."""
        wanted = content_words(question)
        scored = [(len(wanted & line_words), number, line)
                  for number, line, line_words in self._read()]
        ranked = sorted((entry for entry in scored if entry[0]), key=lambda e: (-e[0], e[1]))
        # Word overlap is a score, not a distance: Passage.distance stays None, so
        # plugtune's distance threshold keeps every passage returned here.
        return [Passage(line, source=f"{self.path.name}:{number}")
                for _, number, line in ranked[:k]]

    def _read(self) -> list[tuple[int, str, set[str]]]:
        """(line number, text, content words) of each non-blank line, read once."""
        if self._lines is None:
            try:
                text = self.path.read_text(encoding="utf-8")
            except OSError as error:
                raise ConfigError(f"retriever lines: cannot read {self.path} "
                                  f"({error.strerror})") from None
            self._lines = [(number, line.strip(), content_words(line))
                           for number, line in enumerate(text.splitlines(), start=1)
                           if line.strip()]
        return self._lines
