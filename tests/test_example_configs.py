"""Every example config reads and validates against the installed plugins; the
quickstart's run learns its records for real."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from plugtune import Session, load_config
from plugtune.cli import cli
from plugtune.sdk.cli import CliState
from tests.conftest import REPO

CONFIGS = sorted((REPO / "examples" / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_example_config_validates(path):
    config = load_config(path)
    Session.from_config(config).validate(config)
    if config.training.model_extra and "deepspeed" in config.training.model_extra:
        assert (REPO / config.training.model_extra["deepspeed"]).is_file()


def test_the_examples_cover_each_kind_of_run():
    names = {path.name for path in CONFIGS}
    assert {"quickstart.yaml", "sft_deepspeed_zero2.yaml", "sft_fsdp.yaml", "dpo.yaml",
            "grpo.yaml", "ppo.yaml", "rag.yaml", "eval.yaml"} <= names


@pytest.mark.slow
def test_the_tiny_quickstart_learns_its_records_and_predict_uses_its_adapter(
        tmp_path, monkeypatch):
    """The tiny quickstart: the loss falls, and `plugtune predict` with the same config
    (nothing else said) answers with the adapter the run trained, which answers most of
    its 12 records exactly (measured: 11 of 12), and says so; --base answers as the base
    model."""
    monkeypatch.chdir(REPO)  # the config names its data relative to the repository
    out = tmp_path / "quickstart"
    config = ["examples/configs/tiny_quickstart.yaml", "--set", f"output.dir={out}"]
    runner = CliRunner()
    trained = runner.invoke(cli, ["train", *config], obj=CliState())
    assert trained.exit_code == 0, trained.output
    losses = [json.loads(line)["loss"] for line in
              (out / "trainer_log.jsonl").read_text(encoding="utf-8").splitlines()
              if '"loss"' in line]
    assert losses[0] > 5 and losses[-1] < 0.5, losses

    def predict(*flags: str) -> tuple[str, float]:
        result = runner.invoke(cli, ["predict", *config, "--split", "eval", "--overwrite",
                                     *flags], obj=CliState())
        assert result.exit_code == 0, result.output
        scores = json.loads((out / "predict_results.json").read_text(encoding="utf-8"))
        return " ".join(result.output.split()), scores["metrics"]["exact_match"]

    table, trained_score = predict()
    assert f"model: tiny://qwen2 + adapter {out}" in table and trained_score >= 0.75, table
    table, base_score = predict("--base")
    assert "model: tiny://qwen2 (base model, no adapter)" in table and base_score < 0.25, table
