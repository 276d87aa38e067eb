"""LLaMA-Factory's own example configs train as they are, the model swapped for the
tiny one (and a few steps): sft and pt here; the alignment stages come with their
trainers."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from plugtune.cli import cli
from plugtune.sdk.cli import CliState
from tests.conftest import FIXTURES, needs_fixtures
from tests.helpers import assert_adapter_changes_predictions, log_values

# LLaMA-Factory's own example configs and data, from ../shared.
pytestmark = needs_fixtures

EXAMPLES = [
    ("llamafactory_examples/train_lora/qwen3_lora_sft.yaml", "tiny://qwen2"),
    ("llamafactory_examples/train_lora/qwen3_lora_pretrain.yaml", "tiny://qwen2"),
    ("llamafactory_examples_v0.9.3/train_lora/llama3_lora_sft.yaml", "tiny://llama"),
]


@pytest.mark.parametrize(("example", "model"), EXAMPLES, ids=lambda v: str(v).split("/")[-1])
@pytest.mark.slow
def test_llamafactory_example_trains(tmp_path, monkeypatch, example, model):
    source = (FIXTURES / example).read_text()
    lines = [f"model_name_or_path: {model}" if line.startswith("model_name_or_path:") else line
             for line in source.splitlines()]
    config = tmp_path / "lf.yaml"
    config.write_text("\n".join(lines))
    (tmp_path / "data").symlink_to(FIXTURES / "llamafactory_data")  # LF's dataset_dir: data
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, [
        "train", str(config), "--set", "training.max_steps=2", "--set", "data.cutoff_len=256",
        "--set", "training.logging_steps=1",
    ], obj=CliState())
    assert result.exit_code == 0, result.output
    output_dir = tmp_path / next(
        line.split(":", 1)[1].strip() for line in lines if line.startswith("output_dir:")
    )
    losses = log_values(output_dir, "loss")
    assert len(losses) == 2 and all(math.isfinite(loss) for loss in losses), losses
    assert_adapter_changes_predictions(output_dir, model)  # it trained, and saved what it did


@pytest.mark.slow
def test_the_preprocess_example_prepares_its_tokenized_path_then_trains_from_it(
        tmp_path, monkeypatch):
    """LLaMA-Factory's tokenized_path: the first run encodes into the folder, the next
    reads it without loading the records again."""
    source = (FIXTURES / "llamafactory_examples/train_lora/qwen3_preprocess.yaml").read_text()
    config = tmp_path / "lf.yaml"
    config.write_text(source.replace("Qwen/Qwen3-4B-Instruct-2507", "tiny://qwen2"))
    (tmp_path / "data").symlink_to(FIXTURES / "llamafactory_data")
    monkeypatch.chdir(tmp_path)
    steps = ["--set", "training.max_steps=1", "--set", "data.cutoff_len=256"]
    first = CliRunner().invoke(cli, ["train", str(config), *steps], obj=CliState())
    assert first.exit_code == 0, first.output
    manifest = json.loads((tmp_path / "saves/qwen3-4b/dataset/sft/manifest.json").read_text())
    assert (manifest["template"]["name"], manifest["data"]["cutoff_len"]) == ("chatml", 256)

    def refuse(*args, **kwargs):
        raise AssertionError("the records were loaded again")

    monkeypatch.setattr("plugtune.training.rows.encoded.load_datasets", refuse)
    again = CliRunner().invoke(cli, ["train", str(config), *steps], obj=CliState())
    assert again.exit_code == 0, again.output
    other = CliRunner().invoke(cli, ["train", str(config), "--set", "data.cutoff_len=512"],
                               obj=CliState())
    assert "data.cutoff_len: 256 in the folder, 512 in this run" in other.output
