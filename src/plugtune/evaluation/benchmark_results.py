"""What ``plugtune eval`` reports for a multiple-choice benchmark: per-subject accuracy,
macro and micro averages, and the files it writes (``eval_results.json``,
``eval_predictions.jsonl`` and the ``eval_accuracy.png`` bar chart)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS_FILE = "eval_results.json"
PREDICTIONS_FILE = "eval_predictions.jsonl"
PLOT_FILE = "eval_accuracy.png"


@dataclass
class SubjectResult:
    subject: str
    correct: int
    total: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


@dataclass
class BenchmarkResult:
    layout: str
    split: str
    shots: int
    model: str
    subjects: dict[str, SubjectResult]
    predictions: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def macro_accuracy(self) -> float:
        results = list(self.subjects.values())
        return sum(r.accuracy for r in results) / len(results) if results else 0.0

    @property
    def micro_accuracy(self) -> float:
        total = sum(r.total for r in self.subjects.values())
        return sum(r.correct for r in self.subjects.values()) / total if total else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "split": self.split,
            "shots": self.shots,
            "model": self.model,
            "questions": sum(r.total for r in self.subjects.values()),
            "subjects": {
                name: {"accuracy": r.accuracy, "correct": r.correct, "total": r.total}
                for name, r in self.subjects.items()
            },
            "average": self.macro_accuracy,
            "micro_average": self.micro_accuracy,
            "seconds": round(self.seconds, 3),
        }

    def write(self, out_dir: str | Path, *, plot: bool = True) -> dict[str, Path]:
        """Write the results JSON, the predictions JSONL and (``plot``) the bar chart."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        files = {"results": out / RESULTS_FILE, "predictions": out / PREDICTIONS_FILE}
        files["results"].write_text(
            json.dumps(self.summary(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        with files["predictions"].open("w", encoding="utf-8") as handle:
            for line in self.predictions:
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")
        if plot:
            files["plot"] = plot_accuracy(self, out / PLOT_FILE)
        return files


def plot_accuracy(result: BenchmarkResult, file: Path) -> Path:
    """A horizontal bar per subject plus the average, accuracy 0–1."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    names = [*result.subjects, "average"]
    values = [r.accuracy for r in result.subjects.values()] + [result.macro_accuracy]
    figure, axes = plt.subplots(figsize=(7, 1.2 + 0.35 * len(names)))
    try:
        colors = ["tab:blue"] * (len(names) - 1) + ["tab:orange"]
        axes.barh(names, values, color=colors)
        axes.invert_yaxis()
        axes.set_xlim(0, 1)
        axes.set_xlabel("accuracy")
        axes.set_title(f"{result.layout} {result.split}, {result.shots}-shot: {result.model}")
        for y, value in enumerate(values):
            axes.text(min(value + 0.01, 0.9), y, f"{value:.3f}", va="center", fontsize=8)
        figure.tight_layout()
        figure.savefig(file, dpi=100)
    finally:
        plt.close(figure)
    return file
