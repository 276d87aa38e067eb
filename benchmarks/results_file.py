"""Where a benchmark leaves its table: ``benchmarks/results/<name>.md``, dated, under the
command that made it (the script's docstring says what is compared)."""

from __future__ import annotations

import datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def publish(table: str, name: str, title: str, command: str, *, write: bool = True) -> None:
    """Print ``table``; unless told not to, write it as ``results/<name>.md``."""
    print("\n" + table)
    if not write:
        return
    stamp = datetime.date.today().isoformat()
    (RESULTS / f"{name}.md").write_text(
        f"# {title} ({stamp})\n\n`{command}`; see the script's docstring for what is "
        f"compared.\n\n{table}\n", encoding="utf-8")
    print(f"\nwritten: benchmarks/results/{name}.md")
