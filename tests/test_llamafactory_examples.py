"""Every LLaMA-Factory example config in the fixtures, with what plugtune does with it:
read (trained, served or evaluated as LLaMA-Factory would) or refused with the keys it
cannot honour named; and LLaMA-Factory's eval config run through ``plugtune eval``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from plugtune import ConfigError, load_config
from plugtune.cli import cli
from plugtune.sdk.cli import CliState
from tests.conftest import (
    FIXTURES,
    LLAMAFACTORY_EXAMPLES,
    LLAMAFACTORY_EXAMPLES_V093,
    needs_fixtures,
)

NEW, OLD = LLAMAFACTORY_EXAMPLES, LLAMAFACTORY_EXAMPLES_V093
EXAMPLES = sorted(
    path.relative_to(FIXTURES).as_posix()
    for folder in (NEW, OLD)
    for path in (FIXTURES / folder).rglob("*.yaml")
)
BENCHMARKS = Path(__file__).resolve().parents[1] / "examples" / "benchmarks"

READ = "read"
# file -> READ, or the keys the refusal must name. The Qwen-VL and Llama 4 examples read
# (their templates, pixel budgets; video keys are notes), MOSS-VL's template is refused;
# tokenized_path is data.prepared (the preprocess examples read). The Ray examples'
# ray_* keys map to the ray section (tests/test_llamafactory_ray.py), their REMOTE:
# dataset_dir to a hub dataset folder (tests/test_hub_dataset_dir.py).
OUTCOMES: dict[str, str | list[str]] = {
    f"{NEW}/inference/mossvl.yaml": ["template"],
    f"{NEW}/inference/qwen3.yaml": READ,
    f"{NEW}/inference/qwen3_full_sft.yaml": READ,
    f"{NEW}/inference/qwen3_lora_sft.yaml": READ,
    f"{NEW}/inference/qwen3vl.yaml": READ,
    f"{NEW}/train_lora/mossvl_lora_sft.yaml": ["template"],
    f"{NEW}/train_lora/qwen3_lora_dpo.yaml": READ,
    f"{NEW}/train_lora/qwen3_lora_kto.yaml": READ,
    f"{NEW}/train_lora/qwen3_lora_pretrain.yaml": READ,
    f"{NEW}/train_lora/qwen3_lora_reward.yaml": READ,
    f"{NEW}/train_lora/qwen3_lora_sft.yaml": READ,
    f"{NEW}/train_lora/qwen3_lora_sft_ds3.yaml": READ,
    f"{NEW}/train_lora/qwen3_lora_sft_ray.yaml": READ,
    f"{NEW}/train_lora/qwen3_preprocess.yaml": READ,
    f"{NEW}/train_lora/qwen3vl_lora_dpo.yaml": READ,
    f"{NEW}/train_lora/qwen3vl_lora_sft.yaml": READ,
    f"{OLD}/inference/llama3.yaml": READ,
    f"{OLD}/inference/llama3_full_sft.yaml": READ,
    f"{OLD}/inference/llama3_lora_sft.yaml": READ,
    f"{OLD}/inference/qwen2_5vl.yaml": READ,
    f"{OLD}/train_lora/llama3_lora_dpo.yaml": READ,
    f"{OLD}/train_lora/llama3_lora_eval.yaml": READ,
    f"{OLD}/train_lora/llama3_lora_kto.yaml": READ,
    f"{OLD}/train_lora/llama3_lora_ppo.yaml": READ,
    f"{OLD}/train_lora/llama3_lora_pretrain.yaml": READ,
    f"{OLD}/train_lora/llama3_lora_reward.yaml": READ,
    f"{OLD}/train_lora/llama3_lora_sft.yaml": READ,
    f"{OLD}/train_lora/llama3_lora_sft_ds3.yaml": READ,
    f"{OLD}/train_lora/llama3_lora_sft_ray.yaml": READ,
    f"{OLD}/train_lora/llama3_preprocess.yaml": READ,
    f"{OLD}/train_lora/llama4_lora_sft_ds3.yaml": READ,
    f"{OLD}/train_lora/qwen2_5vl_lora_dpo.yaml": READ,
    f"{OLD}/train_lora/qwen2_5vl_lora_sft.yaml": READ,
}


@needs_fixtures
def test_every_example_has_an_outcome():
    assert sorted(OUTCOMES) == EXAMPLES
    assert sum(outcome == READ for outcome in OUTCOMES.values()) == 31


@needs_fixtures
@pytest.mark.parametrize("name", sorted(OUTCOMES))
@pytest.mark.slow
def test_each_example_is_read_or_refused_by_key(name):
    outcome = OUTCOMES[name]
    if outcome == READ:
        load_config(FIXTURES / name)
        return
    with pytest.raises(ConfigError) as error:
        load_config(FIXTURES / name)
    message = str(error.value)
    assert str(FIXTURES / name) in message
    assert set(outcome) <= refused_keys(message)


def refused_keys(message: str) -> set[str]:
    """The keys a refusal names: each of its indented lines starts ``key[, key…]: why``."""
    named = (line.strip().partition(": ")[0] for line in message.splitlines()
             if line.startswith("  "))
    return {key for keys in named for key in keys.split(", ")}


@needs_fixtures
def test_the_eval_example_becomes_a_benchmark_run():
    config = load_config(FIXTURES / OLD / "train_lora/llama3_lora_eval.yaml")
    benchmark = config.evaluation.benchmark
    assert (benchmark.path, benchmark.layout, benchmark.split) == ("evaluation/mmlu", "mmlu",
                                                                   "test")
    assert (benchmark.shots, benchmark.batch_size, benchmark.chat) == (5, 4, False)
    assert config.output.dir == "saves/llama3-8b/lora/eval"
    assert config.model.adapter == "saves/llama3-8b/lora/sft"


def write_lf(tmp_path: Path, **keys: object) -> Path:
    path = tmp_path / "lf_eval.yaml"
    path.write_text(yaml.safe_dump({"model_name_or_path": "tiny://qwen2", **keys}),
                    encoding="utf-8")
    return path


def test_an_llamafactory_eval_config_runs_with_plugtune_eval(tmp_path):
    config = write_lf(tmp_path, task="mmlu_test", task_dir=str(BENCHMARKS), template="fewshot",
                      lang="en", n_shot=1, batch_size=2, save_dir=str(tmp_path / "out"))
    result = CliRunner().invoke(cli, ["eval", str(config), "--subjects", "astronomy",
                                      "--limit", "2"], obj=CliState())
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "eval_results.json").read_text())
    assert (summary["layout"], summary["shots"]) == ("mmlu", 1)
    assert summary["subjects"]["astronomy"]["total"] == 2


@pytest.mark.parametrize(("keys", "message"), [
    ({"task": "gsm8k_test"}, "task: 'gsm8k_test': LLaMA-Factory's tasks are <benchmark>_<split>"),
    ({"task": "cmmlu_validation"}, "task: 'cmmlu_validation'"),
    ({"n_shot": 3}, "n_shot: a `llamafactory-cli eval` setting, used with task"),
])
def test_eval_keys_without_a_benchmark_task_are_refused(tmp_path, keys, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(write_lf(tmp_path, **keys))
