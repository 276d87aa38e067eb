"""Loading models safely: no pickle weights and no shipped code unless the config says so."""

from __future__ import annotations

import json
import shutil

import pytest

from plugtune.core.config import ModelConfig
from plugtune.core.errors import ConfigError
from plugtune.models import load_causal_lm
from plugtune.models.sources import resolve_model_path


@pytest.fixture(scope="module")
def tiny_dir():
    from pathlib import Path

    return Path(resolve_model_path("tiny://qwen2"))


def test_pickle_weights_need_an_explicit_opt_in(tmp_path, tiny_dir):
    import torch

    model = load_causal_lm(ModelConfig())
    shutil.copy(tiny_dir / "config.json", tmp_path / "config.json")
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(ConfigError, match="allow_pickle: true only for a checkpoint you trust"):
        load_causal_lm(ModelConfig(path=str(tmp_path)))
    loaded = load_causal_lm(ModelConfig(path=str(tmp_path), allow_pickle=True))
    name = "model.embed_tokens.weight"
    assert torch.equal(loaded.state_dict()[name], model.state_dict()[name])


def test_model_code_runs_only_with_trust_remote_code(tmp_path, tiny_dir):
    config = json.loads((tiny_dir / "config.json").read_text())
    config.update(model_type="made-up", auto_map={"AutoConfig": "modeling.MadeConfig",
                                                  "AutoModelForCausalLM": "modeling.Made"})
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "modeling.py").write_text("raise SystemExit('model code ran')\n")
    with pytest.raises(ConfigError, match="trust_remote_code: true only if you trust it"):
        load_causal_lm(ModelConfig(path=str(tmp_path)))


def test_the_attention_implementation_is_the_configs_choice():
    assert load_causal_lm(ModelConfig(path="tiny://qwen2")).config._attn_implementation == "sdpa"
    eager = load_causal_lm(ModelConfig(path="tiny://qwen2", attention="eager"))
    assert eager.config._attn_implementation == "eager"
    import importlib.util

    if importlib.util.find_spec("flash_attn") is None:  # no flash-attn package here
        with pytest.raises(ConfigError, match="model.attention: 'flash_attention_2'"):
            load_causal_lm(ModelConfig(path="tiny://qwen2", attention="flash_attention_2"))


def test_the_reward_model_loads_under_the_same_rules():
    # It once copied load_causal_lm and dropped model.attention on the way.
    from plugtune.training.run.finetuning import load_reward_model

    eager = load_reward_model(ModelConfig(path="tiny://qwen2", attention="eager"))
    assert eager.config._attn_implementation == "eager"
    assert type(eager).__name__.endswith("ForSequenceClassification")
    assert eager.score.out_features == 1
    assert load_reward_model(ModelConfig(path="tiny://qwen2")).config._attn_implementation == "sdpa"
