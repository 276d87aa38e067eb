"""Loss curves as a PNG, from the run's ``trainer_log.jsonl``."""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def read_log(path: Path) -> list[dict[str, float]]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def plot_losses(
    log_path: Path,
    png_path: Path,
    keys: tuple[str, ...] = ("loss", "eval_loss"),
    *,
    ylabel: str = "loss",
) -> bool:
    """Plot each of ``keys`` against the step (``ylabel`` names the axis and the title);
    False when the log holds none of them."""
    entries = read_log(log_path)
    series = {
        key: [(entry["step"], entry[key]) for entry in entries if key in entry]
        for key in keys
    }
    series = {key: points for key, points in series.items() if points}
    if not series:
        return False
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    for key, points in series.items():
        steps, values = zip(*points, strict=True)
        axes.plot(steps, values, marker="o" if len(points) < 30 else None, label=key)
    axes.set_xlabel("step")
    axes.set_ylabel(ylabel)
    axes.set_title(f"{log_path.parent.name}: {ylabel}")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(png_path, dpi=100)
    plt.close(figure)
    return True


def plot_rewards(output_dir: Path, keys: tuple[str, ...]) -> None:
    """The reward curves of an RL or preference run (``REWARD_PLOT``), from its log."""
    from plugtune.training.run.outputs import LOG_FILE, REWARD_PLOT

    if plot_losses(output_dir / LOG_FILE, output_dir / REWARD_PLOT, keys, ylabel="reward"):
        log.info("reward curves: %s", output_dir / REWARD_PLOT)
