"""vLLM's own OpenAI server, started and stopped by plugtune, answering the ``openai``
backend; and the error when it cannot start."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time

import httpx
import pytest

from plugtune import Session
from plugtune.core.config import RunConfig
from plugtune.core.errors import PlugtuneError
from plugtune.inference.vllm_server import VLLMServer, free_port, running
from tests_vllm.shared import ENGINE, GREEDY, MODEL, QUESTIONS, ask, transformers_answers

SERVER_ARGS = ["--max-model-len", str(ENGINE["max_model_len"]), "--enforce-eager"]


@pytest.fixture(scope="module")
def session() -> Session:
    return Session()


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    config = RunConfig.model_validate({"model": MODEL})
    server = VLLMServer.from_config(config, port=free_port(), extra_args=SERVER_ARGS)
    log = tmp_path_factory.mktemp("server") / "vllm.log"
    with running(server, log_file=log) as url:
        # served under model.path, as the openai backend asks for it
        models = httpx.get(f"{url}/models", timeout=10).json()["data"]
        assert [model["id"] for model in models] == ["tiny://qwen2"]
        yield url


@pytest.fixture(scope="module")
def client(base_url, session):
    config = RunConfig.model_validate({"model": MODEL, "backend": {"name": "openai",
                                                                   "base_url": base_url}})
    backend = session.build("backends", config.backend)
    backend.load(config, session)
    return backend


def test_the_server_answers_as_the_transformers_backend(client, session):
    config = RunConfig.model_validate({"model": MODEL})
    answers = client.generate([ask(question) for question in QUESTIONS], GREEDY)
    assert answers == transformers_answers(session, config, GREEDY)


def test_the_server_streams_the_same_answer(client):
    [answer] = client.generate([ask(QUESTIONS[2])], GREEDY)
    pieces = list(client.stream(ask(QUESTIONS[2]), GREEDY))
    assert len(pieces) > 1 and "".join(pieces) == answer


def test_a_server_that_dies_is_an_error_with_its_log(tmp_path):
    server = VLLMServer(model=str(tmp_path / "no-such-model"), port=free_port(),
                        python=sys.executable, extra_args=SERVER_ARGS)
    with pytest.raises(PlugtuneError, match="exited with code") as raised, running(server):
        pass
    assert "no-such-model" in str(raised.value)


def test_plugtune_serve_engine_vllm_serves_until_it_is_terminated(tmp_path):
    """The CLI runs vLLM's server in the foreground; SIGTERM to plugtune stops it too."""
    config = tmp_path / "run.yaml"
    config.write_text(f"model: {json.dumps(MODEL)}\n", encoding="utf-8")
    port = free_port()
    command = [sys.executable, "-m", "plugtune", "serve", str(config), "--engine", "vllm",
               "--port", str(port), "--model-name", "tiny", "--", *SERVER_ARGS]
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1/models"
    try:
        deadline = time.monotonic() + 600
        while process.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                response = httpx.get(url, timeout=5)
                if response.is_success:
                    break
            time.sleep(0.5)
        assert process.poll() is None, (tmp_path / "serve.log").read_text()
        assert [model["id"] for model in response.json()["data"]] == ["tiny"]
    finally:
        process.terminate()
        code = process.wait(timeout=120)
        log.close()
    assert code == 128 + signal.SIGTERM
    with pytest.raises(httpx.HTTPError):
        httpx.get(url, timeout=5)
