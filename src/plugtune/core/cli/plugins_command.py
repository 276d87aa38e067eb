"""``plugtune plugins``: what is installed, where it came from, and what is broken."""

from __future__ import annotations

import json

import click

from plugtune.core.cli.state import get_state
from plugtune.core.registry import KINDS


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
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table("kind", "name", "distribution", "version", "description", box=None)
    for row in rows:
        origin = row["distribution"] or row["plugin"]
        table.add_row(row["kind"], row["name"], origin, row["version"] or "", row["doc"])
    console.print(table)
    if problems:
        broken = Table("plugin", "problem", title="plugins not loaded", box=None)
        for problem in problems:
            broken.add_row(problem["plugin"], problem["problem"], style="red")
        console.print(broken)
