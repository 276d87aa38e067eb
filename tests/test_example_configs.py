"""Every example config reads and validates against the installed plugins."""

from __future__ import annotations

import pytest

from plugtune import Session, load_config
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
