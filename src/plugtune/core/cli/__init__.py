"""The ``plugtune`` command: a thin layer of click over the Python API.

Each command lives in its own module. Plugin commands (the ``commands`` kind) are looked
up in the session's registry, so ``pip install`` of a plugin adds a subcommand.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import click

from plugtune.core.cli.chat_command import chat
from plugtune.core.cli.config_command import config
from plugtune.core.cli.data_command import data
from plugtune.core.cli.env_command import env, version
from plugtune.core.cli.eval_command import eval_command
from plugtune.core.cli.export_command import export
from plugtune.core.cli.plugins_command import plugins
from plugtune.core.cli.predict_command import predict
from plugtune.core.cli.serve_command import serve
from plugtune.core.cli.state import CliState, get_state, remember_option
from plugtune.core.cli.train_command import train
from plugtune.core.errors import PlugtuneError

CORE_COMMANDS: dict[str, click.Command] = {
    c.name or "": c
    for c in (
        chat, config, data, env, eval_command, export, plugins, predict, serve, train, version
    )
}


class PlugtuneGroup(click.Group):
    """Adds plugin commands, and turns plugtune errors into one clean line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*CORE_COMMANDS, *get_state(ctx).session.registry("commands").names()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in CORE_COMMANDS:
            return CORE_COMMANDS[cmd_name]
        commands = get_state(ctx).session.registry("commands")
        return commands.get(cmd_name).load() if cmd_name in commands else None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PlugtuneError as error:
            if os.environ.get("PLUGTUNE_DEBUG"):
                raise
            raise click.ClickException(str(error)) from error


@click.group(cls=PlugtuneGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--plugin", "plugin_refs", multiple=True, metavar="FILE.py|MODULE:OBJ",
              is_eager=True, expose_value=False, callback=remember_option,
              help="Load plugin code that is not installed (repeatable).")
@click.option("--strict", is_flag=True, is_eager=True, expose_value=False,
              callback=remember_option,
              help="Fail on a broken plugin instead of reporting it.")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
def cli(verbose: int) -> None:
    """Fine-tune, align, serve and evaluate LLMs; every moving part is a plugin."""
    configure_logging((logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)])


def configure_logging(level: int) -> None:
    """Log to stderr through rich; library code only ever logs."""
    from rich.console import Console
    from rich.logging import RichHandler

    root = logging.getLogger("plugtune")
    handler = RichHandler(console=Console(stderr=True), show_path=False, markup=False)
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def main() -> None:
    """Entry point of the ``plugtune`` console script."""
    configure_logging(logging.WARNING)
    cli(obj=CliState(), prog_name="plugtune")


__all__ = ["cli", "main"]
