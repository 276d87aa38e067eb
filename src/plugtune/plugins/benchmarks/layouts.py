"""The C-Eval, MMLU and CMMLU folder layouts: where each subject's CSV file of a split
lives, and how its rows read.

- ``ceval``: ``{dev,val,test}/<subject>_<split>.csv``, header
  ``id,question,A,B,C,D,answer[,explanation]``;
- ``mmlu``: ``[data/]{dev,val,test}/<subject>_<split>.csv``, no header
  (question,A,B,C,D,answer);
- ``cmmlu``: ``{dev,test}/<subject>.csv``, header ``,Question,A,B,C,D,Answer``.

Each row is converted by the loader plugin of the same name (a question with lettered
choices and its answer).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from plugtune.sdk.multiple_choice import csv_first_row, read_csv_rows

MMLU_COLUMNS = ("question", "A", "B", "C", "D", "answer")


class CevalLayout:
    """C-Eval: ``{dev,val,test}/<subject>_<split>.csv`` with an ``id,question,…`` header."""

    name: ClassVar[str] = "ceval"
    splits: ClassVar[tuple[str, ...]] = ("dev", "val", "test")
    default_split: ClassVar[str] = "val"
    language: ClassVar[str] = "zh"
    loader: ClassVar[str] = "ceval"
    description: ClassVar[str] = (
        "{dev,val,test}/<subject>_<split>.csv with header id,question,A,B,C,D,answer"
    )
    columns: ClassVar[tuple[str, ...] | None] = None  # None: the file's header names them

    def root(self, path: Path) -> Path:
        return path

    def files(self, root: Path, split: str) -> dict[str, Path]:
        folder = self.root(root) / split
        found = sorted(folder.glob(f"*_{split}.csv")) if folder.is_dir() else []
        return {file.stem.removesuffix(f"_{split}"): file for file in found}

    def rows(self, file: Path) -> list[dict[str, str]]:
        return read_csv_rows(file, self.columns)

    def detect(self, root: Path) -> bool:
        dev = _dev_files(root)
        return bool(dev) and _all_suffixed(dev) and _header(dev[0]) == ["id", "question"]


class MmluLayout(CevalLayout):
    """MMLU (hendrycks' CSVs): ``[data/]{dev,val,test}/<subject>_<split>.csv``, no header."""

    name: ClassVar[str] = "mmlu"
    default_split: ClassVar[str] = "test"
    language: ClassVar[str] = "en"
    loader: ClassVar[str] = "mmlu"
    description: ClassVar[str] = (
        "[data/]{dev,val,test}/<subject>_<split>.csv without header: question,A,B,C,D,answer"
    )
    columns: ClassVar[tuple[str, ...] | None] = MMLU_COLUMNS

    def root(self, path: Path) -> Path:
        return path / "data" if (path / "data").is_dir() else path

    def detect(self, root: Path) -> bool:
        if (root / "data" / "dev").is_dir():
            return True
        dev = _dev_files(root)
        return bool(dev) and _all_suffixed(dev) and _header(dev[0]) != ["id", "question"]


class CmmluLayout(CevalLayout):
    """CMMLU: ``{dev,test}/<subject>.csv`` with a ``,Question,A,B,C,D,Answer`` header."""

    name: ClassVar[str] = "cmmlu"
    splits: ClassVar[tuple[str, ...]] = ("dev", "test")
    default_split: ClassVar[str] = "test"
    loader: ClassVar[str] = "cmmlu"
    description: ClassVar[str] = "{dev,test}/<subject>.csv with header ,Question,A,B,C,D,Answer"

    def files(self, root: Path, split: str) -> dict[str, Path]:
        folder = root / split
        return {file.stem: file for file in sorted(folder.glob("*.csv"))} if folder.is_dir() else {}

    def detect(self, root: Path) -> bool:
        dev = _dev_files(root)
        return bool(dev) and not _all_suffixed(dev)


def _dev_files(root: Path) -> list[Path]:
    dev = root / "dev"
    return sorted(dev.glob("*.csv")) if dev.is_dir() else []


def _all_suffixed(files: list[Path]) -> bool:
    return all(file.stem.endswith("_dev") for file in files)


def _header(file: Path) -> list[str]:
    return [cell.strip() for cell in csv_first_row(file)[:2]]
