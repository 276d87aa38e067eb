"""``plugtune config``: the JSON schema of a run config, a config as plugtune reads it, and
a LLaMA-Factory config converted to plugtune's."""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml

from plugtune.core.cli.state import get_state
from plugtune.core.config import RunConfig, config_schema, load_config, read_config_file
from plugtune.core.errors import ConfigError
from plugtune.core.validation import validate_model

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


@config.command("convert")
@click.argument("path", type=click.Path(path_type=Path))
def convert(path: Path) -> None:
    """Print the plugtune config that the LLaMA-Factory config in PATH means, with notes
    on the keys that have no effect in plugtune as comments at the top."""
    from plugtune.compat.llamafactory import convert_llamafactory, is_llamafactory_config

    data = read_config_file(path)
    if not is_llamafactory_config(data):
        raise ConfigError(
            f"{path}: not a LLaMA-Factory config (no model_name_or_path or stage at the top "
            "level, or plugtune sections); `plugtune config show` prints a plugtune config"
        )
    converted = convert_llamafactory(data, source=str(path))
    validate_model(RunConfig, converted.config, where=f"{path} (converted)")
    lines = [f"# plugtune config converted from the LLaMA-Factory config {path}"]
    lines += [f"# note: {line}" for note in converted.notes for line in note.splitlines()]
    body = yaml.safe_dump(converted.config, sort_keys=False, allow_unicode=True)
    click.echo("\n".join(lines) + "\n" + body, nl=False)
