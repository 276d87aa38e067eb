"""``plugtune config``: the JSON schema of a run config, a config as plugtune reads it, and
another tool's config (LLaMA-Factory's, …) converted to plugtune's."""

from __future__ import annotations

import json
from pathlib import Path

import click

from plugtune.core.config import RunConfig, config_schema, read_config_file
from plugtune.core.errors import ConfigError
from plugtune.core.validation import validate_model
from plugtune.sdk.cli import get_state, load_run, set_option
from plugtune.sdk.configs import read_foreign_config


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
    import yaml

    run_config, session = load_run(ctx, path, overrides)
    resolved = session.validate(run_config).model_dump(mode="json")
    if as_json:
        click.echo(json.dumps(resolved, indent=2, ensure_ascii=False))
    else:
        click.echo(yaml.safe_dump(resolved, sort_keys=False, allow_unicode=True), nl=False)


@config.command("convert")
@click.argument("path", type=click.Path(path_type=Path))
@click.pass_context
def convert(ctx: click.Context, path: Path) -> None:
    """Print the plugtune config that another tool's config in PATH means (any format a
    config_readers plugin reads: LLaMA-Factory's flat YAML built in), with notes on the
    keys that have no effect in plugtune as comments at the top."""
    import yaml

    data = read_config_file(path)
    readers = get_state(ctx).session.registry("config_readers")
    found = read_foreign_config(data, str(path), readers)
    if found is None:
        raise ConfigError(
            f"{path}: no config reader claims it (known: {', '.join(readers.names())}); "
            "a LLaMA-Factory config has model_name_or_path or stage at the top level and "
            "no plugtune sections. `plugtune config show` prints a plugtune config"
        )
    name, converted = found
    validate_model(RunConfig, converted.config, where=f"{path} (converted)")
    lines = [f"# plugtune config converted from the {name} config {path}"]
    lines += [f"# note: {line}" for note in converted.notes for line in note.splitlines()]
    body = yaml.safe_dump(converted.config, sort_keys=False, allow_unicode=True)
    click.echo("\n".join(lines) + "\n" + body, nl=False)
