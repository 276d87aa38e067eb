"""``plugtune predict``: answer a split of a run config's data, write and score the answers."""

from __future__ import annotations

from pathlib import Path

import click

from plugtune.sdk.cli import adapter_options, load_run, set_option


@click.command("predict")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@set_option
@adapter_options
@click.option("--split", type=click.Choice(["test", "eval", "train"]), default="test",
              show_default=True, help="Which records of the config's data to answer.")
@click.option("--limit", type=click.IntRange(min=1), default=None, metavar="N",
              help="Only the first N records.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FILE", help="Predictions file [default: "
              "output.dir/generated_predictions.jsonl]; predict_results.json goes beside it.")
@click.option("--overwrite", is_flag=True,
              help="Start the predictions file afresh instead of resuming it.")
@click.pass_context
def predict(ctx: click.Context, path: Path, overrides: tuple[str, ...], adapter: str | None,
            base: bool, split: str, limit: int | None, out: Path | None,
            overwrite: bool) -> None:
    """Generate an answer for each record of a split with the config's backend, write
    them with their references, and print the config's evaluation.metrics.

    Answers are appended to the predictions file batch by batch; when the file is left
    from an interrupted run of the same config, the records it already answers are
    skipped (--overwrite starts again)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from plugtune.evaluation.report import metrics_table
    from plugtune.inference.predict import PREDICTIONS_FILE, RESULTS_FILE, SAMPLES_FILE
    from plugtune.inference.predict import predict as predict_split
    from plugtune.models.adapters import describe_model, with_run_adapter

    run_config, session = load_run(ctx, path, overrides)
    run_config = with_run_adapter(run_config, adapter, base=base)
    predictions_file = out or Path(run_config.output.dir) / PREDICTIONS_FILE
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(f"predict {split}", total=None)
        result = predict_split(
            run_config, session, split=split, limit=limit,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
            out=predictions_file, overwrite=overwrite,
        )
    results_file = predictions_file.parent / RESULTS_FILE
    console = Console()
    if result.resumed:
        console.print(f"resumed: {result.resumed} answers were already in {predictions_file}",
                      highlight=False)
    console.print(f"model: {describe_model(run_config)}", highlight=False, soft_wrap=True)
    if result.metrics:
        console.print(metrics_table(f"{split}: {len(result.predictions)} records",
                                    result.metrics))
    else:
        console.print("no evaluation.metrics in the config: nothing scored")
    console.print(f"predictions: {predictions_file}\nresults: {results_file}", highlight=False)
    if result.samples:
        console.print(f"per-sample scores: {predictions_file.parent / SAMPLES_FILE}",
                      highlight=False)
