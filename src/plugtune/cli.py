"""The ``plugtune`` command: the application layer, a click group over the registry.

Every subcommand is a ``commands`` component, plugtune's own (``plugtune.plugins.commands``)
exactly like a plugin's: ``pip install`` of a plugin adds a subcommand, and a plugin
that registers a name plugtune already uses (``train``) is a clash the registry
reports, settled by ``plugins.prefer``, never a silent shadowing.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from dataclasses import dataclass
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


def configure_logging(level: int) -> None:
    """Log to stderr through rich; library code only ever logs. Other libraries' known,
    harmless lines (``KNOWN_NOISE``) show from -v on."""
    root = logging.getLogger("plugtune")
    root.handlers[:] = [RichOnFirstRecord()]
    root.setLevel(level)
    root.propagate = False
    quiet_known_noise(quiet=level > logging.INFO)


# Lines other libraries print on every run that tell a plugtune user nothing to act on. A
# newcomer reads each warning as something they did wrong; these are known, checked to be
# harmless in plugtune's use of the library, and kept out of the output unless -v asks
# for more (every other warning and log line shows as before). One table, each entry
# with the reason it is harmless, so that hiding a line is a decision someone can review.


@dataclass(frozen=True)
class LoggedNoise:
    """A record a library logs: the logger's name and the message's start (a regex)."""

    logger: str
    message: str
    why: str


@dataclass(frozen=True)
class WarnedNoise:
    """A ``warnings.warn`` from a library: its category, the package it comes from, and
    the message's start (a regex)."""

    category: type[Warning]
    package: str
    message: str
    why: str


KNOWN_NOISE: tuple[LoggedNoise | WarnedNoise, ...] = (
    LoggedNoise(
        "bitsandbytes.backends.cpu.ops", "Failed to load CPU gemm_4bit_forward",
        why="an optional faster CPU 4-bit kernel that needs a hub download (the `kernels` "
            "package); 4-bit runs use bitsandbytes' own kernel. Printed on every import of "
            "bitsandbytes (PEFT's, the Trainer's) on CPUs with AVX512-BF16.",
    ),
    LoggedNoise(
        "DeepSpeed", "Setting accelerator to CPU",
        why="accelerate imports DeepSpeed, when it is installed, only to ask whether the "
            "model is a DeepSpeed engine; on a machine without a GPU DeepSpeed reports the "
            "CPU it found. A run without training.deepspeed never uses it, and one with it "
            "runs on the CPU the run already chose.",
    ),
    WarnedNoise(
        UserWarning, "peft", r"Model has `tie_word_embeddings=True` and a tied layer",
        why="LoRA with the output layer (or the embeddings) in modules_to_save on a model "
            "that ties them (the tiny models, SmolLM2): the trained copy is saved in the "
            "adapter and used with it, and a merge (plugtune export) unties them in the "
            "config, so the merged model answers as the adapter does (the same logits).",
    ),
    WarnedNoise(
        UserWarning, "peft", r"Input and output embeddings are no longer tied after merging",
        why="the same case at export: PEFT writes tie_word_embeddings false with the "
            "trained output layer, which is what keeps the merged model right.",
    ),
    WarnedNoise(
        UserWarning, "plugtune.plugins.trainers.grpo.trainer",
        r"You are using '(rollout_func|environment_factory)'",
        why="agentic GRPO (an environment or tools) plays its episodes through these two "
            "experimental GRPOTrainer hooks on purpose; plugtune pins the TRL version and "
            "a compat contract test checks the hooks behave as it relies on. TRL warns "
            "from its caller's frame: plugtune's trl_trainer, the only one that builds it.",
    ),
    WarnedNoise(
        FutureWarning, "transformers", r"`is_gradient_checkpointing` is deprecated",
        why="PEFT's PeftModel and TRL still read the old property name; transformers "
            "answers it, and plugtune pins the versions that do.",
    ),
)


class DropLine(logging.Filter):
    """Drops the records whose message starts with ``pattern``."""

    def __init__(self, pattern: str) -> None:
        super().__init__()
        self.pattern = re.compile(pattern)

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.match(record.getMessage())


# One filter object per logged line, made once: adding it again or removing it is exact.
_DROPS = {noise: DropLine(noise.message) for noise in KNOWN_NOISE
          if isinstance(noise, LoggedNoise)}


def quiet_known_noise(quiet: bool) -> None:
    """Hide the known lines (``quiet``), or show them again (``-v``). Libraries imported
    later keep the setting: loggers are filtered by name (a library that configures its
    logger on import keeps the filter), warnings by message."""
    for noise, drop in _DROPS.items():
        if quiet:
            logging.getLogger(noise.logger).addFilter(drop)
        else:
            logging.getLogger(noise.logger).removeFilter(drop)
    for noise in KNOWN_NOISE:
        if isinstance(noise, WarnedNoise):
            # The newest filter wins: "default" (Python's own action) shadows an earlier
            # "ignore" for the same message, and the reverse.
            warnings.filterwarnings("ignore" if quiet else "default", message=noise.message,
                                    category=noise.category, module=re.escape(noise.package))


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
