"""The CLI: thin commands over the Python API, clean errors, fast start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from plugtune.cli import cli
from plugtune.environment import installed_version

HEAVY = ("torch", "transformers", "trl", "peft", "ray")


def run(*args: str, expect: int = 0):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == expect, result.output
    return result


def test_plugins_list_shows_builtins_with_their_distribution():
    rows = json.loads(run("plugins", "list", "--json").stdout)["components"]
    exact = next(row for row in rows if row["name"] == "exact_match")
    assert exact["kind"] == "metrics"
    assert exact["distribution"] == "plugtune"
    assert exact["plugin"] == "plugtune:metrics"
    assert exact["doc"].startswith("Share of predictions")
    assert {"callbacks", "commands", "metrics"} <= {row["kind"] for row in rows}


def test_plugins_list_table_and_kind_filter():
    output = run("plugins", "list", "--kind", "callbacks").output
    assert "early_stopping" in output and "exact_match" not in output


def test_plugins_list_reports_broken_plugins(tmp_path):
    broken = tmp_path / "broken_plugin.py"
    broken.write_text("raise ImportError('missing dependency: foo')\n")
    result = run("--plugin", str(broken), "plugins", "list", "--json")
    problems = json.loads(result.stdout)["problems"]
    assert problems == [
        {
            "plugin": str(broken),
            "distribution": None,
            "problem": "failed to import: ImportError('missing dependency: foo')",
        }
    ]
    strict = CliRunner().invoke(cli, ["--strict", "--plugin", str(broken), "plugins", "list"])
    assert strict.exit_code == 1
    assert "Error: broken plugins:" in strict.output and "failed to import" in strict.output


def test_plugin_commands_come_from_the_commands_hook(tmp_path):
    plugin = tmp_path / "greeter.py"
    plugin.write_text(
        "import click\nfrom plugtune import hookimpl\n\n"
        "@click.command('greet')\n@click.argument('name')\n"
        "def greet(name):\n    '''Say hello.'''\n    click.echo(f'hello {name}')\n\n"
        "@hookimpl\ndef register_commands(register):\n    register(greet)\n"
    )
    assert run("--plugin", str(plugin), "greet", "you").output == "hello you\n"
    assert "greet" in run("--plugin", str(plugin), "--help").output
    assert "tiny-model" in run("--help").output  # a built-in, registered the same way


def test_config_show_resolves_overrides_defaults_and_component_options(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"callbacks": [{"name": "early_stopping"}]}))
    output = run("config", "show", str(path), "--set", "training.seed=3").stdout
    shown = yaml.safe_load(output)
    assert shown["training"]["seed"] == 3
    assert shown["callbacks"] == [
        {"name": "early_stopping", "patience": 3, "threshold": 0.0, "metric": "eval_loss"}
    ]
    assert shown["model"]["path"] == "tiny://qwen2"


def test_config_show_loads_the_configs_local_plugins(tmp_path):
    plugin = tmp_path / "my_metric.py"
    plugin.write_text(
        "from plugtune import hookimpl\n\n"
        "@hookimpl\ndef register_metrics(register):\n"
        "    register('always_one', lambda predictions, references: {'one': 1.0})\n"
    )
    path = tmp_path / "run.yaml"
    path.write_text(
        yaml.safe_dump({"plugins": {"paths": [str(plugin)]},
                        "evaluation": {"metrics": ["always_one"]}})
    )
    shown = json.loads(run("config", "show", str(path), "--json").stdout)
    assert shown["evaluation"]["metrics"] == ["always_one"]


def test_config_errors_are_one_clean_message(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("trainng: {}\n")
    result = CliRunner().invoke(cli, ["config", "show", str(path)])
    assert result.exit_code == 1
    assert "trainng: unknown key (did you mean 'training'?)" in result.output
    assert "Traceback" not in result.output


def test_config_schema_is_json():
    schema = json.loads(run("config", "schema").stdout)
    assert "model" in schema["properties"]


def test_version_and_env():
    version = installed_version("plugtune")
    assert run("version").output.strip() == version
    assert run("--version").output.strip() == f"plugtune {version}"
    report = json.loads(run("env", "--json").stdout)
    assert report["versions"]["pluggy"]
    assert "cpu_threads" in report["devices"]
    assert report["extras"]["dev"]["pytest"] is True
    assert "peft" in report["extras"]["train"]
    assert "extras" in run("env").output


@pytest.mark.parametrize("args", [["--help"], ["plugins", "list"], ["config", "schema"]])
def test_startup_commands_import_no_heavy_library(args):
    code = (
        "import sys\nfrom plugtune.cli import cli\n"
        f"try:\n    cli({args!r}, standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_the_console_script_runs():
    result = subprocess.run(
        [sys.executable, "-m", "plugtune", "version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == installed_version("plugtune")


def test_tiny_model_build_writes_a_loadable_model(tmp_path):
    out = tmp_path / "tiny-llama"
    assert run("tiny-model", "build", "llama", "--out", str(out)).stdout.strip() == str(out)
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {
        p.name for p in out.iterdir()
    }
    cached = run("tiny-model", "path", "tiny://qwen2").stdout.strip()
    assert cached.startswith(os.environ["PLUGTUNE_CACHE_DIR"])
    assert (Path(cached) / "model.safetensors").is_file()


def test_tiny_model_unknown_arch_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["tiny-model", "build", "gpt5", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown tiny architecture 'gpt5'" in result.output
    assert "Traceback" not in result.output


def test_a_plugin_command_named_like_a_built_in_is_a_clash_not_a_shadow(tmp_path):
    plugin = tmp_path / "my_train.py"
    plugin.write_text(
        "import click\nfrom plugtune import hookimpl\n\n"
        "@click.command('train')\ndef train():\n"
        "    '''Not plugtune's.'''\n    click.echo('mine')\n\n"
        "@hookimpl\ndef register_commands(register):\n    register(train)\n"
    )
    result = CliRunner().invoke(cli, ["--plugin", str(plugin), "train", "x.yaml"])
    assert result.exit_code == 2 and "mine" not in result.output
    assert "commands 'train' is registered by several plugins: plugtune" in result.output
    assert "plugins: {prefer: {commands.train:" in result.output


def test_plugins_list_piped_keeps_whole_descriptions():
    """Piped (no terminal), each component is one line with its whole description."""
    output = run("plugins", "list").output
    line = next(line for line in output.splitlines() if line.split()[:2] == ["trainers", "dpo"])
    assert line.endswith("(TRL's DPOTrainer on plugtune's rows, model and callbacks).")
    assert not [line for line in output.splitlines() if line.endswith("…")]  # none cut


@pytest.mark.parametrize(("flags", "level"), [([], "ERROR"), (["-v"], "INFO")])
def test_optional_speedup_warnings_show_from_verbose_on(flags, level):
    """bitsandbytes' "Failed to load CPU gemm_4bit_forward from kernels-community" (a
    hub download for a faster CPU 4-bit kernel) prints on every Trainer import on CPUs
    with AVX512-BF16; plugtune keeps it for -v."""
    import logging

    from plugtune.cli import OPTIONAL_SPEEDUPS

    run(*flags, "plugins", "list")
    for name in OPTIONAL_SPEEDUPS:
        assert logging.getLevelName(logging.getLogger(name).level) == level
