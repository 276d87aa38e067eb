"""The ``plugtune`` command: the application layer, a click group over the registry.

Every subcommand is a ``commands`` component, plugtune's own (``plugtune.plugins.commands``)
exactly like a plugin's: ``pip install`` of a plugin adds a subcommand, and a plugin
that registers a name plugtune already uses (``train``) is a clash the registry
reports, settled by ``plugins.prefer``, never a silent shadowing.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import click

from plugtune.core.errors import PlugtuneError
from plugtune.sdk.cli import CliState, get_state, remember_option


class PlugtuneGroup(click.Group):
    """Commands from the registry, and plugtune errors as one clean line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return get_state(ctx).session.registry("commands").names()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        commands = get_state(ctx).session.registry("commands")
        if cmd_name not in commands:
            return None
        try:
            return commands.get(cmd_name).load()
        except PlugtuneError as error:  # a clash: say so instead of picking one
            raise click.UsageError(str(error)) from None

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
@click.version_option(package_name="plugtune", prog_name="plugtune",
                      message="%(prog)s %(version)s")
def cli(verbose: int) -> None:
    """Fine-tune, align, serve and evaluate LLMs; every moving part is a plugin."""
    configure_logging((logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)])


#: Third-party warnings about optional speed-ups that need a download, printed on every
#: import of transformers' Trainer: shown from -v on.
OPTIONAL_SPEEDUPS = ("bitsandbytes.backends.cpu.ops",)  # kernels-community's CPU 4-bit GEMM


def configure_logging(level: int) -> None:
    """Log to stderr through rich; library code only ever logs."""
    root = logging.getLogger("plugtune")
    root.handlers[:] = [RichOnFirstRecord()]
    root.setLevel(level)
    root.propagate = False
    for name in OPTIONAL_SPEEDUPS:
        logging.getLogger(name).setLevel(logging.ERROR if level > logging.INFO else level)


class RichOnFirstRecord(logging.Handler):
    """rich's handler, imported when the first record comes: most commands log nothing,
    and ``plugtune --help`` should not pay for rich."""

    def __init__(self) -> None:
        super().__init__()
        self._rich: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._rich is None:
            from rich.console import Console
            from rich.logging import RichHandler

            self._rich = RichHandler(console=Console(stderr=True), show_path=False, markup=False)
        self._rich.handle(record)


def main() -> None:
    """Entry point of the ``plugtune`` console script."""
    configure_logging(logging.WARNING)
    cli(obj=CliState(), prog_name="plugtune")


__all__ = ["cli", "main"]
