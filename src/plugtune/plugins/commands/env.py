"""``plugtune version`` and ``plugtune env``."""

from __future__ import annotations

import json

import click


@click.command("version")
def version() -> None:
    """Print plugtune's version."""
    from plugtune import environment

    click.echo(environment.installed_version("plugtune") or "unknown (not installed)")


@click.command("env")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def env(as_json: bool) -> None:
    """Versions of the stack, devices, and which optional extras are installed."""
    from plugtune import environment

    report = {
        "versions": environment.stack_versions(),
        "devices": environment.devices(),
        "extras": environment.extras(),
    }
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    versions = Table("package", "version", title="stack", box=None)
    for name, value in report["versions"].items():
        versions.add_row(name, value or "[dim]not installed[/dim]")
    console.print(versions)
    devices = report["devices"]
    cuda = ", ".join(devices["cuda"]) or "none"
    console.print(f"devices: cpu ({devices['cpu_threads']} threads); cuda: {cuda}; "
                  f"mps: {'yes' if devices['mps'] else 'no'}")
    extras = Table("extra", "status", "missing", title="extras", box=None)
    for extra, packages in report["extras"].items():
        missing = [name for name, ok in packages.items() if not ok]
        extras.add_row(extra, "[red]incomplete[/red]" if missing else "[green]ok[/green]",
                       ", ".join(missing))
    console.print(extras)
