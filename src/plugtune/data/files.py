"""Rows out of files, each with an origin that points a user at it.

Origins: ``data.jsonl:12`` and ``wiki.txt:12`` (1-based line), ``data.csv:12`` (the line
the record starts on), ``data.json[11]`` and ``data.parquet[11]`` (0-based record
index). A line that is not valid JSON in a JSON Lines file is a bad *record* (the
caller's policy decides); a ``.json`` file that does not parse is an error of the file.
JSON Lines, text, CSV, parquet and Arrow files are read a line or a batch at a time, so a
file of any size costs the memory of one row; a ``.json`` list is parsed whole. pyarrow
and datasets are imported only for the formats that need them.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plugtune.core.errors import ConfigError
from plugtune.core.records import RecordError

#: The data files a folder holds. A Markdown file is read when named (a pt corpus of
#: documents) but never picked up from a folder, where it is a README, not data.
SUFFIXES = (".json", ".jsonl", ".csv", ".parquet", ".arrow", ".txt")
#: Plain text, one row per line.
TEXT_SUFFIXES = (".txt", ".md")
OnBadRow = Callable[[RecordError], None]


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One row as read, and where it is."""

    origin: str
    data: Any


def read_rows(
    path: str | Path, *, split: str = "train", on_bad_row: OnBadRow | None = None
) -> Iterator[SourceRow]:
    """Every row of a file, a folder of files, or a ``datasets.save_to_disk`` folder.

    ``on_bad_row`` receives rows that cannot be parsed (a broken JSON line); without
    it they raise. ``split`` picks the split of a saved ``DatasetDict``.
    """
    source = Path(path)
    if (source / "state.json").is_file() or (source / "dataset_dict.json").is_file():
        yield from _saved_dataset(source, split)
        return
    if not source.exists():
        raise ConfigError(f"{source}: no such file or folder")
    if split != "train":  # data files hold one split, as in datasets
        raise ConfigError(f"{source}: split {split!r} only applies to a saved DatasetDict")
    if source.is_dir():
        for file in folder_files(source):
            yield from read_rows(file, on_bad_row=on_bad_row)
        return
    reader = _READERS.get(source.suffix.lower())
    if reader is None:
        raise ConfigError(
            f"{source}: unsupported file type {source.suffix!r}; use one of {', '.join(_READERS)}"
        )
    yield from reader(source, on_bad_row or _raise)


def folder_files(folder: Path) -> list[Path]:
    """The data files below ``folder``, sorted (so records come in a fixed order); all of
    one type, as LLaMA-Factory requires. Other files (README.md, …) are not data."""
    files = sorted(
        path
        for path in folder.rglob("*")
        if path.is_file()
        and path.suffix.lower() in SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )
    if not files:
        raise ConfigError(f"{folder}: no data files ({', '.join(SUFFIXES)}) in this folder")
    kinds = sorted({path.suffix.lower() for path in files})
    if len(kinds) > 1:
        raise ConfigError(f"{folder}: mixes file types ({', '.join(kinds)}); use one per folder")
    return files


def _raise(error: RecordError) -> None:
    raise error


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        problem = f"not UTF-8 text ({error.reason} at byte {error.start})"
        raise ConfigError(f"{path}: {problem}") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None


def _json(path: Path, on_bad_row: OnBadRow) -> Iterator[SourceRow]:
    """A list of records, or an object holding one list (``{"data": [...]}``). A file of
    JSON Lines named ``.json`` is read as JSON Lines, as ``datasets`` does."""
    text = _read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        if error.msg == "Extra data" and text.lstrip().startswith("{"):
            del text
            yield from _json_lines(path, on_bad_row)
            return
        where = f"{path}:{error.lineno}:{error.colno}"
        raise RecordError(where, "", f"not valid JSON: {error.msg}") from None
    except RecursionError:
        raise RecordError(str(path), "", "not valid JSON: nested too deeply") from None
    prefix = str(path)
    if isinstance(data, dict):
        lists = [key for key, value in data.items() if isinstance(value, list)]
        if len(data) != 1 or len(lists) != 1:
            raise ConfigError(
                f"{path}: expected a list of records, or an object holding one list; "
                f"got an object with keys {', '.join(map(str, list(data)[:5]))}"
            )
        prefix, data = f"{path}[{lists[0]}]", data[lists[0]]
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a list of records, got {type(data).__name__}")
    for index, row in enumerate(data):
        yield SourceRow(f"{prefix}[{index}]", row)


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(1-based number, line)`` for each line of a UTF-8 text file, read as it goes
    (lines end at ``\\n``, ``\\r\\n`` or ``\\r``, as editors number them)."""
    number = 0
    try:
        with path.open(encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, start=1):
                yield number, line.rstrip("\n")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}:{number + 1}: not UTF-8 text ({error.reason})") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None


def _json_lines(path: Path, on_bad_row: OnBadRow) -> Iterator[SourceRow]:
    for number, line in _lines(path):
        if not line.strip():
            continue
        origin = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            problem = f"not valid JSON: {error.msg} (column {error.colno})"
            on_bad_row(RecordError(origin, "", problem))
            continue
        except RecursionError:
            on_bad_row(RecordError(origin, "", "not valid JSON: nested too deeply"))
            continue
        yield SourceRow(origin, row)


def _text_lines(path: Path, on_bad_row: OnBadRow) -> Iterator[SourceRow]:
    """One ``{"text": line}`` row per non-empty line, as LLaMA-Factory's text files."""
    for number, line in _lines(path):
        if line.strip():
            yield SourceRow(f"{path}:{number}", {"text": line})


def _csv(path: Path, on_bad_row: OnBadRow) -> Iterator[SourceRow]:
    """Rows as strings, exactly as written (an empty cell is ``""``)."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # long documents are normal here
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        start = 1
        try:
            header = next(reader, None)
            if header is None:
                return
            start = reader.line_num + 1
            for cells in reader:
                origin = f"{path}:{start}"
                start = reader.line_num + 1
                if not any(cell.strip() for cell in cells):
                    continue
                if len(cells) != len(header):
                    problem = f"has {len(cells)} cells, the header has {len(header)}"
                    on_bad_row(RecordError(origin, "", problem))
                    continue
                yield SourceRow(origin, dict(zip(header, cells, strict=True)))
        except csv.Error as error:
            raise RecordError(f"{path}:{start}", "", f"not valid CSV: {error}") from None
        except UnicodeDecodeError as error:
            raise ConfigError(f"{path}: not UTF-8 text ({error.reason})") from None


def _parquet(path: Path, on_bad_row: OnBadRow) -> Iterator[SourceRow]:
    import pyarrow.parquet as parquet

    try:  # pyarrow's errors are OSError (I/O) or ValueError (ArrowInvalid)
        batches = parquet.ParquetFile(path).iter_batches()
        yield from _arrow_rows(path, batches)
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path}: not a readable parquet file ({error})") from None


def _arrow(path: Path, on_bad_row: OnBadRow) -> Iterator[SourceRow]:
    """An Arrow IPC stream (what ``datasets`` writes) or IPC file, a batch at a time."""
    import pyarrow as pa

    try:  # pyarrow's errors are OSError (I/O) or ValueError (ArrowInvalid)
        with pa.OSFile(str(path), "rb") as source:
            try:
                batches: Any = iter(pa.ipc.open_stream(source))
            except pa.ArrowInvalid:
                source.seek(0)
                reader = pa.ipc.open_file(source)
                batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
            yield from _arrow_rows(path, batches)
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path}: not a readable Arrow file ({error})") from None


def _arrow_rows(path: Path, batches: Any) -> Iterator[SourceRow]:
    index = 0
    for batch in batches:
        for row in batch.to_pylist():
            yield SourceRow(f"{path}[{index}]", row)
            index += 1


def _saved_dataset(folder: Path, split: str) -> Iterator[SourceRow]:
    """A folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``."""
    import datasets

    try:
        saved = datasets.load_from_disk(str(folder))
    except (OSError, ValueError) as error:
        raise ConfigError(f"{folder}: not a readable saved dataset ({error})") from None
    prefix = str(folder)
    if isinstance(saved, datasets.DatasetDict):
        if split not in saved:
            known = ", ".join(saved)
            raise ConfigError(f"{folder}: no split {split!r} in this saved dataset; has {known}")
        saved, prefix = saved[split], f"{folder}/{split}"
    for index, row in enumerate(saved):
        yield SourceRow(f"{prefix}[{index}]", row)


_READERS: dict[str, Callable[[Path, OnBadRow], Iterator[SourceRow]]] = {
    ".json": _json,
    ".jsonl": _json_lines,
    ".csv": _csv,
    ".parquet": _parquet,
    ".arrow": _arrow,
    ".txt": _text_lines,
    ".md": _text_lines,
}
