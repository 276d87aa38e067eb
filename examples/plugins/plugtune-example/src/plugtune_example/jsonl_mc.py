"""The ``jsonl_mc`` benchmark layout: multiple-choice questions kept as JSON lines.

``plugtune eval`` scores a model on any folder a ``benchmarks`` plugin describes. A
layout only says where the files are and how their rows read; the questions are
converted by a *loader plugin named by string* — here plugtune's built-in ``mmlu``
loader, looked up in the registry like any other component, never imported — and
prompting, few-shot examples and scoring are plugtune's::

    my_benchmark/
      dev/astronomy.jsonl     {"question": "...", "A": "...", "B": "...", "C": "...",
      test/astronomy.jsonl     "D": "...", "answer": "B"}   (one object per line)

``layout: null`` recognises such a folder with :meth:`JsonlMultipleChoice.detect`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from plugtune.core.errors import ConfigError

COLUMNS = ("question", "A", "B", "C", "D", "answer")


class JsonlMultipleChoice:
    """{dev,test}/<subject>.jsonl multiple-choice files, read with the mmlu loader."""

    splits: ClassVar[tuple[str, ...]] = ("dev", "test")
    default_split: ClassVar[str] = "test"
    language: ClassVar[str] = "en"
    loader: ClassVar[str] = "mmlu"  # a loader plugin's name: rows have MMLU's columns
    description: ClassVar[str] = (
        "{dev,test}/<subject>.jsonl, one JSON object per line with "
        "question, A, B, C, D and answer"
    )

    def detect(self, root: Path) -> bool:
        """A ``dev`` folder of ``.jsonl`` files and nothing else."""
        dev = root / "dev"
        if not dev.is_dir():
            return False
        files = [path for path in dev.iterdir() if path.is_file()]
        return bool(files) and all(path.suffix == ".jsonl" for path in files)

    def files(self, root: Path, split: str) -> dict[str, Path]:
        """Subject (the file's name) -> its file, sorted by subject."""
        folder = root / split
        if not folder.is_dir():
            return {}
        return {path.stem: path for path in sorted(folder.glob("*.jsonl"))}

    def rows(self, file: Path) -> list[dict[str, str]]:
        """The file's questions; a line that is not an object with the six columns is an
        error naming the file and line (blank lines are skipped)."""
        rows = []
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ConfigError(f"{file}:{number}: not JSON: {error.msg}") from None
            if not isinstance(row, dict):
                raise ConfigError(f"{file}:{number}: expected an object, got "
                                  f"{type(row).__name__}")
            missing = [column for column in COLUMNS if column not in row]
            if missing:
                raise ConfigError(f"{file}:{number}: missing {', '.join(missing)} "
                                  f"(expected {', '.join(COLUMNS)})")
            rows.append({str(key): str(value) for key, value in row.items()})
        return rows
