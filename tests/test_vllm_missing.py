"""Without vllm installed, the ``vllm`` backend is listed, validates its options, and
loading it is a clear error that says how to install vLLM (the real engine is tested in
tests_vllm/, in the vLLM venv: make test-vllm)."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from plugtune import Session
from plugtune.core.config import RunConfig
from plugtune.core.errors import ConfigError

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("vllm") is not None, reason="vllm is installed in this venv"
)


def test_loading_the_vllm_backend_without_vllm_says_how_to_install_it():
    session = Session()
    backend = session.build("backends", {"name": "vllm", "max_model_len": 256})
    assert "vllm" not in sys.modules, "building the backend must not import vllm"
    with pytest.raises(ConfigError) as raised:
        backend.load(RunConfig(), session)
    message = str(raised.value)
    assert "pip install vllm" in message
    assert "make vllm-venv" in message


def test_vllm_options_are_validated():
    with pytest.raises(ConfigError, match="gpu_memory_utilization"):
        Session().build("backends", {"name": "vllm", "gpu_memory_utilization": 1.5})


def test_the_vllm_server_command_comes_from_the_config(tmp_path):
    from plugtune.inference.vllm_server import VLLMServer

    config = RunConfig.model_validate({"model": {"path": str(tmp_path), "dtype": "float32",
                                                 "adapter": str(tmp_path / "lora")}})
    server = VLLMServer.from_config(config, port=8123, api_key="k", python="py",
                                    extra_args=["--enforce-eager"])
    assert server.base_url == "http://127.0.0.1:8123/v1"
    assert server.command() == [
        "py", "-m", "vllm.entrypoints.openai.api_server", "--model", str(tmp_path),
        "--host", "127.0.0.1", "--port", "8123", "--dtype", "float32",
        "--served-model-name", str(tmp_path),
        "--enable-lora", "--lora-modules", f"default={tmp_path / 'lora'}",
        "--api-key", "k", "--enforce-eager",
    ]
    assert VLLMServer.from_config(config, "mine").served_model_name == "mine"


def test_a_vllm_server_that_cannot_start_is_an_error_with_its_log(tmp_path):
    """Here python has no vllm: the server process dies at once, and the error says why."""
    from plugtune.core.errors import PlugtuneError
    from plugtune.inference.vllm_server import VLLMServer, free_port, running

    server = VLLMServer(model=str(tmp_path), port=free_port(), python=sys.executable)
    with pytest.raises(PlugtuneError, match="exited with code 1") as raised, running(server):
        pass
    assert "No module named 'vllm'" in str(raised.value)
    assert sys.executable in str(raised.value)
    missing = VLLMServer(model=str(tmp_path), python=str(tmp_path / "no-python"))
    with pytest.raises(ConfigError, match="PLUGTUNE_VLLM_PYTHON"), running(missing):
        pass


def test_serve_engine_vllm_runs_vllms_server_and_passes_its_exit_code(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from plugtune.cli import cli
    from plugtune.sdk.cli import CliState

    monkeypatch.setenv("PLUGTUNE_VLLM_PYTHON", sys.executable)  # no vllm: exits with 1
    config = tmp_path / "run.yaml"
    config.write_text(f"model: {{path: {tmp_path}}}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["serve", str(config), "--engine", "vllm", "--",
                                      "--max-model-len", "512"], obj=CliState())
    assert result.exit_code == 1
    result = CliRunner().invoke(cli, ["serve", str(config), "--", "--max-model-len", "512"],
                                obj=CliState())
    assert result.exit_code == 1 and "--engine vllm" in result.output
