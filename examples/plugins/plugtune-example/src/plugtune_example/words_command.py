"""The ``example-words`` command: a plugin adds ``plugtune example-words``.

A command is a plain ``click`` command (or group), registered as it is; its name is the
subcommand's. Commands that read a run config build on :mod:`plugtune.sdk.cli`
(``load_run``, ``set_option``) to get the session the global options describe.
"""

from __future__ import annotations

import collections
from pathlib import Path

import click


@click.command("example-words")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--top", default=5, show_default=True, help="How many words to print.")
def example_words(path: Path, top: int) -> None:
    """Print the most frequent words of a text file."""
    counts = collections.Counter(path.read_text(encoding="utf-8").split())
    for word, count in counts.most_common(top):
        click.echo(f"{count}\t{word}")
