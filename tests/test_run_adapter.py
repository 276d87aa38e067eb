"""After ``plugtune train CONFIG``, the commands that answer with CONFIG use the adapter
that run trained, say so, and answer with the base model only when told (--base).
(The CLI end to end: tests/test_example_configs.py, on the tiny quickstart.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from plugtune import load_config
from plugtune.core.errors import ConfigError
from plugtune.models.adapters import describe_model, run_adapter, with_run_adapter


def _adapter_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text("{}")
    return path


def test_the_order_adapter_flag_base_run_folder_then_model_adapter(tmp_path: Path) -> None:
    named, run = _adapter_folder(tmp_path / "named"), _adapter_folder(tmp_path / "run")
    flag = _adapter_folder(tmp_path / "flag")
    config = load_config(None, [f"model.adapter={named}", f"output.dir={run}"])
    assert run_adapter(config) == str(run)
    assert run_adapter(config, flag) == str(flag)
    assert run_adapter(config, base=True) is None
    config.output.dir = str(tmp_path / "predictions-only")
    assert run_adapter(config) == str(named)
    config.model.adapter = None
    assert run_adapter(config) is None
    with pytest.raises(ConfigError, match="--adapter and --base contradict"):
        run_adapter(config, flag, base=True)
    with pytest.raises(ConfigError, match="--adapter: .* has no adapter_config.json"):
        run_adapter(config, tmp_path)


def test_the_chosen_model_is_described_and_the_config_left_as_it_was(tmp_path: Path) -> None:
    run = _adapter_folder(tmp_path / "run")
    config = load_config(None, [f"output.dir={run}"])
    chosen = with_run_adapter(config)
    assert config.model.adapter is None and chosen.model.adapter == str(run)
    assert describe_model(chosen) == f"{config.model.path} + adapter {run}"
    assert describe_model(config) == f"{config.model.path} (base model, no adapter)"
