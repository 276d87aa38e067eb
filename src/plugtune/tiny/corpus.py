"""The text the tiny tokenizers are trained on, shipped inside the package.

The text is committed data (see ``corpus/README.md``), never generated at build time,
so every machine trains on the same bytes and gets the same tokenizer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from importlib import resources

#: Lines per training sequence: long enough that newlines and blank lines between
#: lines are learned, short enough that the trainer can spread the work over threads.
LINES_PER_CHUNK = 32


def corpus_texts() -> list[tuple[str, str]]:
    """Return ``(file name, text)`` for every shipped ``.txt`` file, sorted by name.

    Line endings are normalized to ``\\n`` so that a checkout that converted them (git
    ``autocrlf``) still trains the same tokenizer.
    """
    folder = resources.files("plugtune.tiny").joinpath("corpus")
    texts = [
        (entry.name, entry.read_text(encoding="utf-8").replace("\r\n", "\n"))
        for entry in folder.iterdir()
        if entry.name.endswith(".txt")
    ]
    if not texts:
        raise FileNotFoundError(f"no .txt files in the tiny model corpus at {folder}")
    return sorted(texts)


def corpus_digest() -> str:
    """SHA-256 over the corpus, so a cached tiny model is rebuilt when the text changes."""
    digest = hashlib.sha256()
    for name, text in corpus_texts():
        digest.update(name.encode("utf-8") + b"\0" + text.encode("utf-8") + b"\0")
    return digest.hexdigest()


def corpus_chunks() -> Iterator[str]:
    """Yield the corpus as training sequences of :data:`LINES_PER_CHUNK` lines each.

    Newlines are kept so the tokenizer learns ``\\n``, ``\\n\\n`` and indentation runs.
    """
    for _name, text in corpus_texts():
        lines = text.splitlines(keepends=True)
        for start in range(0, len(lines), LINES_PER_CHUNK):
            yield "".join(lines[start : start + LINES_PER_CHUNK])
