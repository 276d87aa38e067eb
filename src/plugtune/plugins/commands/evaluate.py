"""``plugtune eval``: score the run's model on a multiple-choice benchmark folder, or,
without a benchmark, on a generation task: a split of the config's data scored with its
evaluation.metrics (the ``predict`` pipeline and outputs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from plugtune.core.config import RunConfig
from plugtune.core.errors import ConfigError
from plugtune.sdk.cli import adapter_options, load_run, set_option


@click.command("eval")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@set_option
@adapter_options
@click.option("--benchmark", type=click.Path(file_okay=False, path_type=Path), default=None,
              metavar="DIR", help="Benchmark folder [default: evaluation.benchmark.path].")
@click.option("--layout", default=None, metavar="NAME",
              help="Folder layout, a benchmarks plugin (ceval, mmlu, cmmlu, …) "
              "[default: evaluation.benchmark.layout, else recognised].")
@click.option("--split", default=None, metavar="SPLIT",
              help="Split to score [default: the layout's (val for ceval, test for "
              "mmlu/cmmlu); a generation task: test, or train/eval of the config's data].")
@click.option("--shots", type=click.IntRange(min=0), default=None, metavar="K",
              help="Few-shot examples from the dev split [default: 5].")
@click.option("--subjects", default=None, metavar="A,B",
              help="Comma-separated subjects [default: all].")
@click.option("--limit", type=click.IntRange(min=1), default=None, metavar="N",
              help="Only the first N questions of each subject.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              metavar="DIR", help="Where the results go [default: output.dir].")
@click.pass_context
def eval_command(ctx: click.Context, path: Path, overrides: tuple[str, ...],
                 adapter: str | None, base: bool, benchmark: Path | None,
                 layout: str | None, split: str | None, shots: int | None,
                 subjects: str | None, limit: int | None,
                 out: Path | None) -> None:
    """Score the config's model on a multiple-choice benchmark (C-Eval / MMLU / CMMLU
    layouts): per-subject and average accuracy, eval_results.json, eval_predictions.jsonl
    and an eval_accuracy.png bar chart.

    Without a benchmark (no --benchmark, no evaluation.benchmark), a generation task:
    the records of a data split are answered and scored with evaluation.metrics, as
    `plugtune predict` does (generated_predictions.jsonl, predict_results.json,
    predict_samples.jsonl and a table)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
    from rich.table import Table

    from plugtune.core.config import BenchmarkConfig
    from plugtune.evaluation.benchmarks import run_benchmark
    from plugtune.models.adapters import describe_model, with_run_adapter

    run_config, session = load_run(ctx, path, overrides)
    if benchmark is None and run_config.evaluation.benchmark is None:
        _generation_task(ctx, path, overrides, run_config, split, limit, out,
                         adapter=adapter, base=base)
        return
    run_config = with_run_adapter(run_config, adapter, base=base)
    bench = run_config.evaluation.benchmark or BenchmarkConfig()
    changes: dict[str, Any] = {
        "path": str(benchmark) if benchmark is not None else None,
        "layout": layout, "split": split, "shots": shots,
        "subjects": [s.strip() for s in subjects.split(",") if s.strip()] if subjects else None,
    }
    bench = BenchmarkConfig.model_validate(
        {**bench.model_dump(), **{k: v for k, v in changes.items() if v is not None}}
    )
    run_config.evaluation.benchmark = bench
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("eval", total=None)
        result = run_benchmark(
            run_config, session, limit=limit,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    files = result.write(out or Path(run_config.output.dir), plot=run_config.output.plot)
    table = Table("subject", "accuracy", "correct", "total",
                  title=f"{result.layout} {result.split}, {result.shots}-shot")
    for name, subject in result.subjects.items():
        table.add_row(name, f"{subject.accuracy:.4f}", str(subject.correct), str(subject.total))
    table.add_row("average", f"{result.macro_accuracy:.4f}", "", "", style="bold")
    table.add_row("micro average", f"{result.micro_accuracy:.4f}",
                  str(sum(s.correct for s in result.subjects.values())),
                  str(sum(s.total for s in result.subjects.values())))
    console = Console()
    console.print(f"model: {describe_model(run_config)}", highlight=False, soft_wrap=True)
    console.print(table)
    for name, file in files.items():
        console.print(f"{name}: {file}", highlight=False)


def _generation_task(ctx: click.Context, path: Path, overrides: tuple[str, ...],
                     run_config: RunConfig, split: str | None, limit: int | None,
                     out: Path | None, *, adapter: str | None, base: bool) -> None:
    """``plugtune predict`` on the split, afresh, with metrics required."""
    from plugtune.inference.predict import PREDICTIONS_FILE, SPLITS
    from plugtune.plugins.commands.predict import predict

    if not run_config.evaluation.metrics:
        raise ConfigError(
            f"{path}: nothing to evaluate: set evaluation.benchmark (a multiple-choice "
            "folder, or --benchmark) or evaluation.metrics (scored on a data split)"
        )
    split = split or "test"
    if split not in SPLITS:
        raise ConfigError(f"--split {split}: a generation task scores a data split "
                          f"({', '.join(SPLITS)})")
    folder = out or Path(run_config.output.dir)
    ctx.invoke(predict, path=path, overrides=overrides, adapter=adapter, base=base,
               split=split, limit=limit, out=folder / PREDICTIONS_FILE, overwrite=True)
