"""``plugtune data``: look at what a run config feeds the trainer."""

from __future__ import annotations

import json
from pathlib import Path

import click

from plugtune.sdk.cli import load_run, set_option

config_argument = click.argument("path", type=click.Path(exists=True, path_type=Path))


@click.group("data")
def data() -> None:
    """Preview, measure and prepare the encoded training data of a run config."""


@data.command("preview")
@config_argument
@set_option
@click.option("-n", "--count", default=3, show_default=True, help="Examples to show.")
@click.option("--split", type=click.Choice(["train", "eval", "test"]), default="train",
              show_default=True)
@click.pass_context
def preview(ctx: click.Context, path: Path, overrides: tuple[str, ...], count: int,
            split: str) -> None:
    """Show the first encoded examples; trained tokens are highlighted (or ⟦bracketed⟧)."""
    from rich.console import Console
    from rich.text import Text

    from plugtune.data.prepare import prepare
    from plugtune.data.preview import labelled_pieces

    run_config, session = load_run(ctx, path, overrides)
    prepared = prepare(run_config, session, limit=count)
    console = Console()
    plain = console.no_color or not console.is_terminal
    console.print(f"template: {prepared.template.name}", style="bold")
    encoded = prepared.splits.get(split)
    for example in encoded.examples if encoded else []:
        text = Text()
        for piece, trained in labelled_pieces(example, prepared.tokenizer):
            if plain:
                text.append(f"⟦{piece}⟧" if trained else piece)
            else:
                text.append(piece, style="bold green" if trained else "dim")
        console.rule(f"{example.origin} ({len(example.input_ids)} tokens)")
        console.print(text, markup=False, highlight=False)


@data.command("stats")
@config_argument
@set_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def stats(ctx: click.Context, path: Path, overrides: tuple[str, ...], as_json: bool) -> None:
    """Counts, token-length percentiles, truncation, padding and packing per split."""
    from dataclasses import asdict

    from plugtune.data.prepare import prepare
    from plugtune.data.stats import split_stats

    run_config, session = load_run(ctx, path, overrides)
    prepared = prepare(run_config, session)
    batch_size = run_config.training.per_device_train_batch_size
    table = {
        name: asdict(split_stats(s.examples, s.report, batch_size, run_config.data.cutoff_len))
        for name, s in prepared.splits.items()
    }
    if as_json:
        click.echo(json.dumps({"template": prepared.template.name, "splits": table}, indent=2))
        return
    _print_stats(prepared.loaded.report.summary(), prepared.template.name, table)


def _print_stats(loaded: str, template: str, table: dict[str, dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(loaded)
    console.print(f"template: {template}")
    view = Table("", *table, box=None)
    rows = {
        "records": lambda r: str(r["records"]),
        "examples": lambda r: str(r["examples"]),
        "dropped (nothing to train)": lambda r: str(r["dropped"]),
        "truncated (lost answer tokens)": lambda r: f"{r['truncated']} ({r['truncated_answers']})",
        **{
            f"tokens {key}": (lambda r, key=key: str(r["length_percentiles"][key]))
            for key in ("p50", "p90", "p99", "max")
        },
        "trained tokens": lambda r: f"{r['label_ratio']:.1%}",
        "padding (batches in order)": lambda r: f"{r['padding_ratio']:.1%}",
        "packed rows (fill)": lambda r: f"{r['packed_rows']} ({r['packed_fill']:.1%})",
    }
    for label, cell in rows.items():
        view.add_row(label, *(cell(row) for row in table.values()))
    console.print(view)


@data.command("prepare")
@config_argument
@set_option
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder to write (a new one); default: the config's data.prepared.")
@click.pass_context
def prepare_rows(ctx: click.Context, path: Path, overrides: tuple[str, ...],
                 out: Path | None) -> None:
    """Encode (and pack) the train and eval rows once into a folder that runs with
    data.prepared: DIR train from, without loading or encoding the data again."""
    from plugtune.core.errors import ConfigError
    from plugtune.folder_lock import hold_folder
    from plugtune.training.rows.prepared import prepare_folder

    run_config, session = load_run(ctx, path, overrides)
    folder = out or (Path(run_config.data.prepared) if run_config.data.prepared else None)
    if folder is None:
        raise ConfigError("data prepare: name the folder to write with --out DIR "
                          "(or data.prepared in the config)")
    with hold_folder(folder):  # not inside a live run's folder, nor beside another prepare
        manifest = prepare_folder(run_config, session, folder)
    click.echo(f"{folder}: rows for trainer {manifest['trainer']} "
               f"(config sha256 {manifest['config_digest'][:12]})")
    for name, counts in manifest["splits"].items():
        click.echo(f"  {name}: {counts.get('records', 0):,} records in {counts['rows']:,} "
                   f"rows, {counts.get('tokens', 0):,} tokens, "
                   f"{counts.get('truncated', 0):,} truncated, {counts.get('dropped', 0):,} "
                   "dropped")
    click.echo(f"train from it with data: {{prepared: {folder}}}")
