"""``plugtune train CONFIG``: run the config's trainer plugin.

Works the same under ``accelerate launch -m plugtune train`` and ``torchrun``: every
process runs this command, and only the main one writes the run's files and prints.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from plugtune.sdk.cli import load_run, set_option

log = logging.getLogger(__name__)


@click.command("train")
@click.argument("path", type=click.Path(path_type=Path))
@set_option
@click.option("--resume", is_flag=True,
              help="Continue from the newest complete checkpoint in output.dir.")
@click.option("--callback", "callbacks", multiple=True, metavar="NAME",
              help="Add a callback plugin (repeatable), e.g. --callback early_stopping.")
@click.pass_context
def train(ctx: click.Context, path: Path, overrides: tuple[str, ...], resume: bool,
          callbacks: tuple[str, ...]) -> None:
    """Train as the config in PATH says (a plugtune or LLaMA-Factory YAML)."""
    from rich.console import Console
    from rich.table import Table

    from plugtune.training import train as run_training
    from plugtune.training.distributed import is_main_process
    from plugtune.training.run import summary

    config, session = load_run(ctx, path, overrides)
    metrics = run_training(config, session, resume="auto" if resume else None,
                           callbacks=callbacks)
    if is_main_process():
        table = Table(title=f"trained: {config.output.dir}", show_header=False)
        for key, value in summary(metrics):
            table.add_row(key, value)
        Console().print(table)
