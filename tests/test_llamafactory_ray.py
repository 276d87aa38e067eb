"""LLaMA-Factory's Ray keys: with ``USE_RAY=1`` (LLaMA-Factory's switch) or ``use_ray:
true`` they become the ``ray`` section ``plugtune train`` runs under Ray Train, with
LLaMA-Factory's defaults stated; without it they change nothing, there as here."""

from __future__ import annotations

import re

import pytest
import yaml

from plugtune import ConfigError, load_config
from plugtune.core.config import RayConfig
from plugtune.plugins.config_readers.llamafactory.conversion import convert_llamafactory
from tests.conftest import FIXTURES, REPO, needs_fixtures
from tests.conftest import LLAMAFACTORY_EXAMPLES as NEW
from tests.conftest import LLAMAFACTORY_EXAMPLES_V093 as OLD

EXAMPLES = {
    f"{NEW}/train_lora/qwen3_lora_sft_ray.yaml":
        RayConfig(workers=4, resources_per_worker={"GPU": 1}, storage_path="./saves"),
    f"{OLD}/train_lora/llama3_lora_sft_ray.yaml":
        RayConfig(workers=4, resources_per_worker={"GPU": 1}, storage_path="./saves",
                  name="llama3_8b_sft_lora"),
}
LOCAL_DATA = str(REPO / "examples" / "data")


@pytest.fixture(autouse=True)
def no_use_ray(monkeypatch):
    monkeypatch.delenv("USE_RAY", raising=False)


def example(name: str) -> dict:
    """The example with a local dataset_dir (its own is a hub repository)."""
    keys = yaml.safe_load((FIXTURES / name).read_text(encoding="utf-8"))
    assert keys["dataset_dir"].startswith("REMOTE:")
    return {**keys, "dataset_dir": LOCAL_DATA}


def convert(keys: dict) -> tuple[dict, list[str]]:
    read = convert_llamafactory(keys, source="lf.yaml")
    return read.config, read.notes


@needs_fixtures
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_ray_examples_become_the_ray_section_with_use_ray(name, monkeypatch):
    monkeypatch.setenv("USE_RAY", "1")
    config, notes = convert(example(name))
    assert RayConfig.model_validate(config["ray"]) == EXAMPLES[name]
    assert any(note.startswith("ray_storage_path: Ray keeps its run state there") and
               "checkpoints stay in output_dir" in note for note in notes)


@needs_fixtures
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_without_use_ray_the_ray_keys_change_nothing(name):
    config, notes = convert(example(name))
    assert "ray" not in config
    ray_note = next(note for note in notes if "USE_RAY=1" in note)
    assert ray_note.startswith("ray_num_workers")
    assert "(not set): no effect" in ray_note


@needs_fixtures
@pytest.mark.parametrize("use_ray", ["0", "1"])
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_ray_examples_read_as_they_are(name, use_ray, monkeypatch):
    monkeypatch.setenv("USE_RAY", use_ray)
    config = load_config(FIXTURES / name)  # their REMOTE: dataset_dir is a hub folder
    assert config.data.dataset_dir == "hf://llamafactory/demo_data"
    assert (config.ray is not None) == (use_ray == "1")


def lf_keys(**keys: object) -> dict:
    return {"model_name_or_path": "tiny://qwen2", "stage": "sft", "do_train": True,
            "dataset": "tiny_alpaca", "dataset_dir": LOCAL_DATA, "output_dir": "out", **keys}


def test_use_ray_in_the_file_is_the_switch(monkeypatch):
    config, _ = convert(lf_keys(use_ray=True, ray_num_workers=2,
                                resources_per_worker={"CPU": 1}, placement_strategy="SPREAD",
                                ray_init_kwargs={"namespace": "lf"}))
    assert RayConfig.model_validate(config["ray"]) == RayConfig(
        workers=2, resources_per_worker={"CPU": 1}, placement_strategy="SPREAD",
        storage_path="./saves", init_kwargs={"namespace": "lf"})
    monkeypatch.setenv("USE_RAY", "1")
    config, _ = convert(lf_keys(use_ray=False, ray_num_workers=2))
    assert "ray" not in config


def test_json_strings_are_read_as_llamafactory_reads_them():
    config, _ = convert(lf_keys(use_ray=True, resources_per_worker='{"CPU": 2}',
                                ray_init_kwargs='{"runtime_env": {"env_vars": {"A": "1"}}}'))
    assert config["ray"]["resources_per_worker"] == {"CPU": 2}
    assert config["ray"]["init_kwargs"] == {"runtime_env": {"env_vars": {"A": "1"}}}
    with pytest.raises(ConfigError, match="resources_per_worker: not a JSON object"):
        convert(lf_keys(use_ray=True, resources_per_worker="{CPU: 2"))


def test_a_cloud_storage_filesystem_is_refused_with_what_plugtune_does():
    message = re.escape("ray_storage_filesystem: plugtune writes checkpoints and outputs "
                        "to output_dir")
    with pytest.raises(ConfigError, match=message):
        convert(lf_keys(use_ray=True, ray_storage_filesystem="s3"))
    config, _ = convert(lf_keys(use_ray=True, ray_storage_filesystem=None))
    assert config["ray"]["workers"] == 1


def test_null_ray_keys_are_known_without_use_ray():
    config, notes = convert(lf_keys(ray_run_name=None, ray_storage_filesystem=None))
    assert "ray" not in config
    assert not any("USE_RAY" in note for note in notes)
