"""A dataset folder kept on the Hugging Face hub (``data.dataset_dir: hf://owner/name``,
LLaMA-Factory's ``REMOTE:owner/name``), read from huggingface_hub's cache offline: a
cache laid out as huggingface_hub lays it out, in a child process whose environment
sets the cache and ``HF_HUB_OFFLINE=1`` (huggingface_hub reads both at import)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, needs_fixtures

REPO = "llamafactory/demo_data"
READ = """
from plugtune import Session, load_config
from plugtune.data import load_datasets
config = load_config({config!r})
print(len(load_datasets(config.data, Session()).train))
"""


def cached_repo(cache: Path) -> Path:
    """The snapshot folder of REPO at a commit, with refs/main pointing at it."""
    repo = cache / f"datasets--{REPO.replace('/', '--')}"
    snapshot = repo / "snapshots" / "0123456789abcdef"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123456789abcdef")
    return snapshot


def read_offline(config: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", READ.format(config=str(config))], env=env,
                          capture_output=True, text=True, timeout=300)


@needs_fixtures
@pytest.mark.slow
def test_a_llamafactory_remote_dataset_dir_reads_the_cached_hub_repository(
    tmp_path: Path,
) -> None:
    snapshot = cached_repo(tmp_path / "hub")
    shutil.copyfile(FIXTURES / "llamafactory_data" / "identity.json", snapshot / "identity.json")
    (snapshot / "dataset_info.json").write_text(json.dumps(
        {"identity": {"file_name": "identity.json"}}))
    config = tmp_path / "lf.yaml"
    config.write_text(json.dumps({
        "model_name_or_path": "tiny://qwen2", "stage": "sft", "do_train": True,
        "dataset": "identity", "dataset_dir": f"REMOTE:{REPO}", "output_dir": "out"}))
    done = read_offline(config, tmp_path / "hub")
    assert done.returncode == 0, done.stderr
    expected = len(json.loads((FIXTURES / "llamafactory_data" / "identity.json").read_text()))
    assert int(done.stdout.split()[-1]) == expected


@pytest.mark.slow
def test_a_hub_dataset_dir_neither_cached_nor_reachable_is_a_clear_error(
    tmp_path: Path,
) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(json.dumps({"data": {"train": ["identity"],
                                           "dataset_dir": "hf://someone/absent"}}))
    done = read_offline(config, tmp_path / "hub")
    assert done.returncode != 0
    assert ("data.dataset_dir: hf://someone/absent: the Hugging Face dataset repository "
            "'someone/absent' is neither in the local cache nor reachable") in done.stderr
