"""The CLI: thin commands over the Python API, clean errors, fast start-up."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from plugtune.cli import cli
from plugtune.environment import installed_version
from tests.conftest import REPO

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


# LLaMA-Factory's examples/train_lora/qwen3_lora_sft.yaml, the keys that matter here.
LLAMAFACTORY_SFT = {
    "model_name_or_path": "Qwen/Qwen3-4B-Instruct-2507", "stage": "sft", "do_train": True,
    "finetuning_type": "lora", "lora_rank": 8, "lora_target": "all",
    "dataset": "identity,alpaca_en_demo", "template": "qwen3_nothink", "cutoff_len": 2048,
    "output_dir": "saves/qwen3-4b/lora/sft", "per_device_train_batch_size": 1,
    "gradient_accumulation_steps": 8, "learning_rate": 1.0e-4, "num_train_epochs": 3.0,
    "lr_scheduler_type": "cosine", "warmup_ratio": 0.1, "bf16": True,
}


@pytest.mark.parametrize("args", [
    ["--help"], ["plugins", "list"], ["config", "schema"],
    ["config", "show", str(REPO / "examples/configs/dpo.yaml")],
    ["config", "show", "LLAMAFACTORY_SFT"], ["config", "convert", "LLAMAFACTORY_SFT"],
])
@pytest.mark.slow
def test_startup_commands_import_no_heavy_library(args, tmp_path):
    """What a newcomer runs first answers at once: reading a LLaMA-Factory config reads
    transformers' TrainingArguments from its source, not by importing torch."""
    lf_config = tmp_path / "qwen3_lora_sft.yaml"
    lf_config.write_text(yaml.safe_dump(LLAMAFACTORY_SFT))
    args = [str(lf_config) if arg == "LLAMAFACTORY_SFT" else arg for arg in args]
    code = (
        "import sys\nfrom plugtune.cli import cli\n"
        f"try:\n    cli({args!r}, standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.slow
def test_the_console_script_runs():
    result = subprocess.run(
        [sys.executable, "-m", "plugtune", "version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == installed_version("plugtune")


@pytest.mark.slow
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


# A plugin command that does what makes each known library line appear: LoRA with the
# tied output layer in modules_to_save (PEFT's tie warning, and transformers' deprecated
# property that PeftModel reads), a merge (PEFT's untie warning), and imports of
# bitsandbytes (through PEFT) and DeepSpeed, where they are installed.
NOISY_PLUGIN = """
import importlib.util

import click
from plugtune import hookimpl


@click.command("noisy")
def noisy():
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from plugtune.tiny import tiny_model_path

    model = AutoModelForCausalLM.from_pretrained(tiny_model_path("tiny://qwen2"))
    lora = LoraConfig(target_modules="all-linear", modules_to_save=["lm_head"])
    get_peft_model(model, lora).merge_and_unload()
    agentic_grpo(model)
    if importlib.util.find_spec("deepspeed"):
        import deepspeed  # noqa: F401
    import torch
    click.echo(f"cuda: {torch.cuda.is_available()}")


def agentic_grpo(model):
    # A GRPOTrainer built as agentic grpo builds it: its two experimental hooks warn.
    import tempfile

    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import GRPOConfig

    from plugtune.plugins.trainers.grpo.trainer import trl_trainer
    from plugtune.tiny import tiny_model_path

    class Slot:
        def reset(self, **row):
            return None

    def reward(completions, **columns):
        return [0.0] * len(completions)

    with tempfile.TemporaryDirectory() as folder:
        args = GRPOConfig(output_dir=folder, report_to=[], num_generations=2,
                          per_device_train_batch_size=2, use_cpu=True)
        tokenizer = AutoTokenizer.from_pretrained(tiny_model_path("tiny://llama"))
        hooks = {"rollout_func": lambda prompts, trainer: {}, "environment_factory": Slot}
        trl_trainer("GRPOTrainer", tokenizer, hooks, model=model, reward_funcs=[reward],
                    args=args, train_dataset=Dataset.from_dict({"prompt": ["a", "b"]}))


@hookimpl
def register_commands(register):
    register(noisy)
"""


@pytest.mark.slow
def test_known_library_noise_shows_only_from_verbose_on(tmp_path):
    """Each line of plugtune.cli.KNOWN_NOISE, made by the libraries themselves: gone
    from a plain run, back with -v (where this machine makes it)."""
    from plugtune.cli import KNOWN_NOISE, WarnedNoise

    plugin = tmp_path / "noisy.py"
    plugin.write_text(NOISY_PLUGIN)
    runs = {flags: subprocess.Popen(
        [sys.executable, "-m", "plugtune", *flags, "--plugin", str(plugin), "noisy"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    ) for flags in ((), ("-v",))}
    quiet, verbose = (runs[flags].communicate()[0] for flags in ((), ("-v",)))
    assert all(process.returncode == 0 for process in runs.values()), quiet + verbose
    assert [noise.message for noise in KNOWN_NOISE if re.search(noise.message, quiet)] == []
    deepspeed_on_a_cpu = "cuda: False" in verbose and importlib.util.find_spec("deepspeed")
    made_here = [noise.message for noise in KNOWN_NOISE if isinstance(noise, WarnedNoise)
                 or (noise.logger == "DeepSpeed" and deepspeed_on_a_cpu)]
    assert [message for message in made_here if not re.search(message, verbose)] == []
