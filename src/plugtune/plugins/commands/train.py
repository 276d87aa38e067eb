"""``plugtune train CONFIG``: run the config's trainer plugin.

Works the same under ``accelerate launch -m plugtune train`` and ``torchrun``: every
process runs this command, and only the main one writes the run's files and prints.
With ``--ray`` (or a ``ray`` section) this process is Ray's driver instead: Ray Train
starts the processes, each running the same trainer.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from plugtune.sdk.cli import get_state, load_run, set_option

log = logging.getLogger(__name__)


@click.command("train")
@click.argument("path", type=click.Path(path_type=Path))
@set_option
@click.option("--resume", is_flag=True,
              help="Continue from the newest complete checkpoint in output.dir.")
@click.option("--callback", "callbacks", multiple=True, metavar="NAME",
              help="Add a callback plugin (repeatable), e.g. --callback early_stopping.")
@click.option("--ray/--no-ray", "use_ray", default=None,
              help="Train under Ray Train (the config's ray section, else one worker); "
                   "--no-ray ignores that section. Needs pip install 'plugtune[ray]'.")
@click.option("--workers", type=click.IntRange(min=1), metavar="N",
              help="Ray Train workers (implies --ray).")
@click.option("--ray-address", "address", metavar="ADDR",
              help="The Ray cluster to join (implies --ray); default: RAY_ADDRESS, else a "
                   "local cluster.")
@click.pass_context
def train(ctx: click.Context, path: Path, overrides: tuple[str, ...], resume: bool,
          callbacks: tuple[str, ...], use_ray: bool | None, workers: int | None,
          address: str | None) -> None:
    """Train as the config in PATH says (a plugtune or LLaMA-Factory YAML)."""
    from rich.console import Console
    from rich.table import Table

    from plugtune.folder_lock import check_free
    from plugtune.training import train as run_training
    from plugtune.training.run.distributed import is_main_process, leave_process_group
    from plugtune.training.run.ray_launch import train_on_ray, with_ray_options
    from plugtune.training.run.train import summary

    config, session = load_run(ctx, path, overrides)
    config = with_ray_options(config, use_ray=use_ray, workers=workers, address=address)
    if config.ray is not None:  # checked here before Ray starts, and again in each worker
        check_free(config.output.dir)  # global rank 0 holds it once Ray has started
        state = get_state(ctx)
        metrics = train_on_ray(session.validate(config), plugins=state.plugin_refs,
                               strict=state.strict, resume="auto" if resume else None,
                               callbacks=callbacks)
    else:
        metrics = run_training(config, session, resume="auto" if resume else None,
                               callbacks=callbacks)
        leave_process_group()  # this process owns it: every rank leaves together
    if is_main_process():
        table = Table(title=f"trained: {config.output.dir}", show_header=False)
        for key, value in summary(metrics):
            table.add_row(key, value)
        Console().print(table)
