"""The example third-party package, pip-installed, works by name with no core change."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from plugtune import ConfigError, PluginSelection, Session
from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "plugins" / "plugtune-example"
ONLY_EXAMPLE = PluginSelection(only=frozenset({"plugtune-example"}))


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``pip install`` the example into a private folder (not into the test venv)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--no-build-isolation", "--target", str(target), str(EXAMPLE)],
        check=True, capture_output=True,
    )
    return target


@pytest.fixture
def example_session(installed, monkeypatch):
    monkeypatch.syspath_prepend(str(installed))
    yield Session(selection=ONLY_EXAMPLE)
    sys.modules.pop("plugtune_example", None)


def test_the_cli_lists_the_installed_plugin(installed):
    environment = {**os.environ, "PYTHONPATH": str(installed),
                   "PLUGTUNE_LOAD_PLUGINS": "plugtune-example"}
    result = subprocess.run(
        [sys.executable, "-m", "plugtune", "plugins", "list", "--json"],
        capture_output=True, text=True, check=True, env=environment,
    )
    rows = json.loads(result.stdout)["components"]
    mine = {(row["kind"], row["name"]) for row in rows if row["distribution"] == "plugtune-example"}
    assert mine == {
        ("rewards", "keyword"),
        ("metrics", "length_ratio"),
        ("callbacks", "loss_printer"),
        ("commands", "example-words"),
    }
    versions = {row["version"] for row in rows if row["distribution"] == "plugtune-example"}
    assert versions == {"0.1.0"}


def test_the_reward_builds_from_config_options(example_session):
    reward = example_session.build("rewards", {"name": "keyword", "keyword": "Cat"})
    completions = ["a cat sat", [{"role": "assistant", "content": "CAT!"}], "a dog"]
    assert reward(["p"] * 3, completions) == [1.0, 1.0, 0.0]
    strict = example_session.build(
        "rewards", {"name": "keyword", "keyword": "Cat", "case_sensitive": True}
    )
    assert strict([], ["a cat", "a Cat"]) == [0.0, 1.0]
    with pytest.raises(ConfigError, match="keywrd: unknown key \\(did you mean 'keyword'"):
        example_session.build("rewards", {"name": "keyword", "keywrd": "x"})


def test_the_metric_and_callback_work_by_name(example_session):
    metric = example_session.build("metrics", "length_ratio")
    assert metric(["abcd"], ["ab"]) == {"length_ratio": 2.0}
    from transformers import TrainerCallback

    assert isinstance(example_session.build("callbacks", "loss_printer"), TrainerCallback)


def test_the_command_joins_the_cli(installed, monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(installed))
    monkeypatch.setenv("PLUGTUNE_LOAD_PLUGINS", "plugtune-example")
    text = tmp_path / "words.txt"
    text.write_text("to be or not to be")
    from plugtune.cli import cli

    result = CliRunner().invoke(cli, ["example-words", str(text), "--top", "2"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "2\tto\n2\tbe\n"
    sys.modules.pop("plugtune_example", None)
