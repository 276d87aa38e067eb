"""Print the quickstart's before/after table: each held-out task's score with the base
model and with the tuned one, and one answer of each.

    python examples/before_after.py out/quickstart-base out/quickstart

Each folder holds one subfolder per task, written by ``plugtune predict --out
FOLDER/TASK/generated_predictions.jsonl`` (predict_results.json beside it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table


def task_results(folder: Path) -> dict[str, tuple[dict[str, float], list[dict[str, str]]]]:
    """task -> (metrics, predictions) for every task subfolder of ``folder``."""
    tasks = {}
    for results in sorted(folder.glob("*/predict_results.json")):
        metrics = json.loads(results.read_text(encoding="utf-8"))["metrics"]
        lines = (results.parent / "generated_predictions.jsonl").read_text(encoding="utf-8")
        tasks[results.parent.name] = (metrics, [json.loads(line) for line in lines.splitlines()])
    return tasks


def main(base_dir: str, tuned_dir: str) -> None:
    base, tuned = task_results(Path(base_dir)), task_results(Path(tuned_dir))
    table = Table("held-out task", "metric", "base model", "tuned", "question",
                  "base answer", "tuned answer", title="before and after training")
    for task in sorted(base.keys() & tuned.keys()):
        (base_scores, base_answers), (tuned_scores, tuned_answers) = base[task], tuned[task]
        first = base_answers[0]
        question = first["prompt"][-1]["content"]
        for metric, value in base_scores.items():
            table.add_row(task, metric, f"{value:.2f}", f"{tuned_scores[metric]:.2f}", question,
                          first["predict"], tuned_answers[0]["predict"])
    Console(width=160).print(table)


if __name__ == "__main__":
    main(*sys.argv[1:3])
