"""GRPO's vLLM generation on this CPU: refused before anything loads, with the reason.

TRL copies the policy's weights into vLLM before each generation, and vLLM's CPU build
cannot reload weights (docs/training.md): without the guard the run fails at its first
step, after the model and the engine have loaded."""

from __future__ import annotations

import json

import pytest
import torch

from plugtune import ConfigError, Session, load_config
from plugtune.training import train


@pytest.mark.skipif(torch.cuda.is_available(), reason="the guard is for machines without a GPU")
@pytest.mark.parametrize("mode", ["colocate", "server"])
def test_use_vllm_without_a_gpu_is_refused_before_loading(tmp_path, mode):
    data = tmp_path / "prompts.jsonl"
    data.write_text(json.dumps({"prompt": "Name a color.", "answer": "blue"}) + "\n")
    config = load_config(None, [
        f"data.train=[{data}]",
        f"output.dir={tmp_path / 'run'}",
        f"trainer={{name: grpo, use_vllm: true, vllm_mode: {mode}}}",
        "rewards=[format]",
    ])
    with pytest.raises(ConfigError, match="vLLM generation in GRPO needs a GPU"):
        train(config, Session())
    assert not (tmp_path / "run" / "trainer_log.jsonl").exists()
