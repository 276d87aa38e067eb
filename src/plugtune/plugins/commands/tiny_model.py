"""``plugtune tiny-model``: the small offline models the fast tests use."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, redirect_stdout
from pathlib import Path

import click


@click.group("tiny-model")
def tiny_model() -> None:
    """Build the tiny random-init models behind ``tiny://<arch>``."""


@tiny_model.command("build")
@click.argument("arch", default="qwen2")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Folder to write the model, tokenizer and chat template to.")
@click.option("--seed", default=0, show_default=True, help="Seed of the random weights.")
def build(arch: str, out_dir: Path, seed: int) -> None:
    """Write a tiny ARCH model (qwen2, llama) to a folder, offline and deterministically."""
    from plugtune.tiny import build_tiny_model

    with _unknown_arch_is_bad_parameter(), _stdout_to_stderr():
        folder = build_tiny_model(arch.removeprefix("tiny://"), out_dir, seed=seed)
    click.echo(folder)


@tiny_model.command("path")
@click.argument("ref", default="tiny://qwen2")
def path(ref: str) -> None:
    """Print the cached folder of REF (e.g. tiny://qwen2), building it on first use."""
    from plugtune.tiny import tiny_model_path

    with _unknown_arch_is_bad_parameter(), _stdout_to_stderr():
        folder = tiny_model_path(ref)
    click.echo(folder)


def _stdout_to_stderr() -> AbstractContextManager[object]:
    """Keep stdout for the folder alone (``$(plugtune tiny-model path)``): libraries
    imported while building print there (DeepSpeed's accelerator warning does)."""
    return redirect_stdout(sys.stderr)


@contextmanager
def _unknown_arch_is_bad_parameter() -> Iterator[None]:
    try:
        yield
    except ValueError as error:  # plugtune.tiny's "unknown tiny architecture …"
        raise click.BadParameter(str(error)) from None
