"""Multiple-choice questions as every benchmark and loader writes them (four lettered
choices under the question: the MMLU / C-Eval prompt body), and the CSV files that
benchmark folders keep them in."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

from plugtune.core.errors import ConfigError

LETTERS = ("A", "B", "C", "D")


def format_question(question: str, choices: Mapping[str, str]) -> str:
    """``question\\nA. …\\nB. …\\nC. …\\nD. …``.

    >>> format_question("2 + 2?", {"A": "3", "B": "4"})
    '2 + 2?\\nA. 3\\nB. 4'
    """
    return "\n".join([question, *(f"{letter}. {text}" for letter, text in choices.items())])


def read_csv_rows(file: Path, columns: Sequence[str] | None = None) -> list[dict[str, str]]:
    """A CSV file's rows as dicts: keyed by its header (blank keys dropped), or, for a
    file without one, by ``columns``; a row with another number of cells is an error
    naming the file and line."""
    with file.open(encoding="utf-8-sig", newline="") as handle:
        if columns is None:
            return [{key: value for key, value in row.items() if key and key.strip()}
                    for row in csv.DictReader(handle)]
        rows = []
        for number, cells in enumerate(csv.reader(handle), start=1):
            if not cells:
                continue
            if len(cells) != len(columns):
                raise ConfigError(f"{file}: line {number} has {len(cells)} columns, expected "
                                  f"{len(columns)} ({','.join(columns)})")
            rows.append(dict(zip(columns, cells, strict=True)))
        return rows


def csv_first_row(file: Path) -> list[str]:
    """The first row of a CSV file (its header, if it has one)."""
    with file.open(encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle), [])
