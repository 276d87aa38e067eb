"""``plugtune plugins``: what is installed, where it came from, and what is broken."""

from __future__ import annotations

import json
import sys

import click

from plugtune.core.registry import KINDS
from plugtune.sdk.cli import get_state


@click.group("plugins")
def plugins() -> None:
    """Inspect the loaded plugins and their components."""


@plugins.command("list")
@click.option("--kind", type=click.Choice(KINDS), help="Only components of this kind.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def list_plugins(ctx: click.Context, kind: str | None, as_json: bool) -> None:
    """List components by kind, with the distribution and version that provide them."""
    session = get_state(ctx).session
    components = [c for c in session.components() if kind is None or c.kind == kind]
    rows = [
        {
            "kind": c.kind,
            "name": c.name,
            "distribution": c.plugin.distribution,
            "version": c.plugin.version,
            "plugin": c.plugin.name,
            "doc": c.doc,
        }
        for c in components
    ]
    problems = [
        {"plugin": p.plugin.name, "distribution": p.plugin.distribution, "problem": p.message}
        for p in session.problems
    ]
    if as_json:
        click.echo(json.dumps({"components": rows, "problems": problems}, indent=2))
        return
    _print_tables(rows, problems)


def _print_tables(rows: list[dict], problems: list[dict]) -> None:
    """Rich tables on a terminal; piped to a file or ``less``, plain aligned lines with
    every description whole (a table would wrap them at 80 columns and cut them)."""
    listed = [(row["kind"], row["name"], row["distribution"] or row["plugin"],
               row["version"] or "", row["doc"]) for row in rows]
    broken = [(problem["plugin"], problem["problem"]) for problem in problems]
    if not sys.stdout.isatty():
        _print_plain(("kind", "name", "distribution", "version", "description"), listed)
        if broken:
            click.echo("\nplugins not loaded:")
            _print_plain(("plugin", "problem"), broken)
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table("kind", "name", "distribution", "version", "description", box=None)
    for line in listed:
        table.add_row(*line)
    console.print(table)
    if broken:
        failed = Table("plugin", "problem", title="plugins not loaded", box=None)
        for line in broken:
            failed.add_row(*line, style="red")
        console.print(failed)


def _print_plain(header: tuple[str, ...], lines: list[tuple[str, ...]]) -> None:
    """Columns padded to their widest cell, the last one as it is."""
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header) - 1)]
    for line in [header, *lines]:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        click.echo("  ".join([*cells, line[-1]]).rstrip())
