"""``plugtune config``: the JSON schema of a run config, and a config as plugtune reads it."""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml

from plugtune.core.cli.state import get_state
from plugtune.core.config import config_schema, load_config

set_option = click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE",
    help="Override a config value, e.g. --set training.learning_rate=5e-5 (repeatable).",
)


@click.group("config")
def config() -> None:
    """Validate and inspect run configs."""


@config.command("schema")
def schema() -> None:
    """Print the JSON schema of a run config."""
    click.echo(json.dumps(config_schema(), indent=2))


@config.command("show")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@set_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of YAML.")
@click.pass_context
def show(ctx: click.Context, path: Path | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """Print the config in PATH fully resolved: overrides applied, defaults and each
    component's options filled in, everything validated."""
    run_config = load_config(path, overrides)
    session = get_state(ctx).session_for(run_config)
    resolved = session.validate(run_config).model_dump(mode="json")
    if as_json:
        click.echo(json.dumps(resolved, indent=2, ensure_ascii=False))
    else:
        click.echo(yaml.safe_dump(resolved, sort_keys=False, allow_unicode=True), nl=False)
