"""Documents -> overlapping chunks that remember their file and position.

``.txt`` and ``.md`` files are one document each; ``.jsonl`` / ``.json`` files hold one
document per record, in a text field (``text`` unless told otherwise), read through
:func:`plugtune.data.files.read_rows` so that errors name the record
(``docs.jsonl:3``). Chunks are cut by characters, preferring a whitespace boundary, with
``overlap`` characters repeated between neighbours so that a sentence cut in two is
still whole in one of them. A chunk's ``index`` counts across the whole file, so
``(source, index)`` is a stable id: indexing the same file again gives the same ids.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from plugtune.core.errors import ConfigError
from plugtune.core.records import RecordError
from plugtune.data.files import read_rows

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".md")
RECORD_SUFFIXES = (".jsonl", ".json")
SUFFIXES = TEXT_SUFFIXES + RECORD_SUFFIXES
DEFAULT_CHUNK_SIZE = 800
DEFAULT_CHUNK_OVERLAP = 100
WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Document:
    """The text of one file (``.txt``, ``.md``) or one record (``.jsonl``, ``.json``)."""

    source: str  # the file, resolved: the same file is the same source from any folder
    origin: str  # where the text is: the file, or its record (``docs.jsonl:3``)
    text: str


@dataclass(frozen=True, slots=True)
class Chunk:
    text: str
    source: str
    origin: str
    index: int  # position among the chunks of ``source``

    @property
    def id(self) -> str:
        return f"{self.source}#{self.index}"


def document_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files to index: each file named, and the supported files below each folder
    (hidden ones aside). A named file of another type is an error; other files in a
    folder are skipped and counted in the log."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(
                file for file in path.rglob("*")
                if file.is_file()
                and not any(part.startswith(".") for part in file.relative_to(path).parts)
            )
            supported = [file for file in found if file.suffix.lower() in SUFFIXES]
            if len(supported) < len(found):
                log.warning("%s: skipped %d file(s) that are not %s", path,
                            len(found) - len(supported), ", ".join(SUFFIXES))
            files += supported
        elif path.is_file():
            if path.suffix.lower() not in SUFFIXES:
                raise ConfigError(f"{path}: unsupported file type {path.suffix!r}; "
                                  f"documents are {', '.join(SUFFIXES)}")
            files.append(path)
        else:
            raise ConfigError(f"{path}: no such file or folder")
    if not files:
        names = ", ".join(str(path) for path in paths)
        raise ConfigError(f"no documents found in {names} (looked for {', '.join(SUFFIXES)})")
    return files


def read_documents(file: Path, text_field: str = "text") -> Iterator[Document]:
    """The documents of one file; records without a string ``text_field`` are errors."""
    source = str(file.resolve())
    if file.suffix.lower() in TEXT_SUFFIXES:
        try:
            text = file.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as error:
            raise ConfigError(f"{file}: not UTF-8 text ({error.reason} at byte {error.start})"
                              ) from None
        yield Document(source, str(file), text)
        return
    for row in read_rows(file):
        text = row.data.get(text_field) if isinstance(row.data, dict) else None
        if not isinstance(text, str):
            problem = ("missing" if not isinstance(row.data, dict) or text_field not in row.data
                       else f"must be a string, got {type(text).__name__}")
            raise RecordError(row.origin, text_field, f"{problem} (the document's text)")
        yield Document(source, row.origin, text)


def split_text(text: str, size: int = DEFAULT_CHUNK_SIZE,
               overlap: int = DEFAULT_CHUNK_OVERLAP) -> list[str]:
    """``text`` in pieces of at most ``size`` characters, each starting ``overlap``
    characters before the previous one ended; a cut falls on whitespace when there is
    some in the second half of the piece, and an overlap starts at a word when there is
    one in it. Blank text gives no pieces."""
    if size < 1:
        raise ConfigError(f"chunk size must be at least 1, got {size}")
    if not 0 <= overlap < size:
        raise ConfigError(f"chunk overlap must be at least 0 and below the chunk size "
                          f"({size}), got {overlap}")
    pieces, start = [], 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            cut = max(text.rfind(" ", start, end), text.rfind("\n", start, end))
            if cut > start + size // 2:
                end = cut
        piece = text[start:end].strip()
        if piece:
            pieces.append(piece)
        if end == len(text):
            break
        start = max(_word_start(text, end - overlap, end), start + 1)
    return pieces


def _word_start(text: str, position: int, end: int) -> int:
    """``position``, moved to the next word's start when it falls inside a word (and a
    word starts before ``end``): an overlap begins with a whole word."""
    if position == 0 or text[position - 1].isspace():
        return position
    space = WHITESPACE.search(text, position, end)
    return space.end() if space else position


def chunk_documents(documents: Iterable[Document], size: int = DEFAULT_CHUNK_SIZE,
                    overlap: int = DEFAULT_CHUNK_OVERLAP) -> list[Chunk]:
    """Every document's pieces, numbered per source."""
    chunks: list[Chunk] = []
    counts: dict[str, int] = {}
    for document in documents:
        for piece in split_text(document.text, size, overlap):
            index = counts.get(document.source, 0)
            counts[document.source] = index + 1
            chunks.append(Chunk(piece, document.source, document.origin, index))
    return chunks
