"""The ``openai`` backend against a real ``plugtune serve`` app on a local port."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from plugtune import Session
from plugtune.core.config import GenerationConfig, RunConfig
from plugtune.core.errors import PlugtuneError
from plugtune.core.records import Conversation, Message
from plugtune.inference import load_backend
from plugtune.inference.server import create_app
from plugtune.plugins.backends.openai_http import OpenAIBackend
from tests.helpers import HUNG_S, free_port, threaded_server

MODEL = "tiny-qwen2"
PROMPTS = ["hi", "Translate to Chinese: cat", "2+2", "Tell me a story about a dragon"]


def ask(text: str, system: str | None = None) -> Conversation:
    head = (Message("system", system),) if system else ()
    return Conversation((*head, Message("user", text)))


@pytest.fixture(scope="module")
def local():
    config = RunConfig.model_validate({"generation": {"max_new_tokens": 6}})
    return load_backend(config, Session())


@pytest.fixture(scope="module")
def base_url(local):
    with threaded_server(create_app(local, MODEL)) as url:
        yield f"{url}/v1"


def remote(base_url: str, **options) -> OpenAIBackend:
    backend = Session().build("backends", {"name": "openai", "base_url": base_url,
                                           "model": MODEL, **options})
    config = RunConfig.model_validate({"generation": {"max_new_tokens": 6}})
    backend.load(config, Session())
    return backend


def test_the_backend_is_registered_with_its_options():
    session = Session()
    component = session.component("backends", "openai")
    with pytest.raises(PlugtuneError, match="max_concurrency"):
        session.build("backends", {"name": "openai", "max_concurrency": 0})
    assert component is not None


@pytest.mark.slow
def test_a_round_trip_equals_the_direct_answer(base_url, local):
    conversation = ask("Translate to Chinese: cat", system="be brief")
    assert remote(base_url).generate([conversation]) == local.generate([conversation])


@pytest.mark.slow
def test_several_conversations_come_back_in_order(base_url, local):
    conversations = [ask(text) for text in PROMPTS] * 2
    expected = local.generate(conversations)
    assert len(set(expected)) == len(PROMPTS)  # distinct answers: order is observable
    assert remote(base_url, max_concurrency=3).generate(conversations) == expected
    assert remote(base_url, max_concurrency=1).generate(conversations[:2]) == expected[:2]


def test_params_travel_with_the_request(base_url, local):
    params = GenerationConfig(max_new_tokens=3)
    conversation = ask("2+2")
    answer = remote(base_url).generate([conversation], params)
    assert answer == local.generate([conversation], params)
    assert answer != local.generate([conversation])


def test_stream_yields_pieces_that_join_to_the_answer(base_url, local):
    conversation = ask("hi")
    pieces = list(remote(base_url).stream(conversation))
    assert len(pieces) > 1
    assert "".join(pieces) == local.generate([conversation])[0]


def test_load_takes_the_model_path_and_the_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-test")
    backend = Session().build("backends", {"name": "openai", "api_key_env": "MY_KEY"})
    backend.load(RunConfig.model_validate({"model": {"path": "org/model"}}), Session())
    assert backend.model == "org/model" and backend.api_key == "sk-test"
    assert backend._headers() == {"Authorization": "Bearer sk-test"}
    backend.use_adapter("my-lora")
    assert backend._body(ask("x"), GenerationConfig())["model"] == "my-lora"
    backend.use_adapter(None)
    assert backend._body(ask("x"), GenerationConfig())["model"] == "org/model"


def test_server_errors_are_plugtune_errors_with_the_servers_message(base_url):
    backend = remote(base_url, model="other-model")
    with pytest.raises(PlugtuneError, match=r"answered 404: model 'other-model' is not served"):
        backend.generate([ask("hi")])
    with pytest.raises(PlugtuneError, match="answered 404"):
        list(backend.stream(ask("hi")))


def test_a_server_that_is_down_is_a_clear_error_naming_base_url():
    url = f"http://127.0.0.1:{free_port()}/v1"
    backend = remote(url, timeout=5)
    with pytest.raises(PlugtuneError, match=rf"cannot reach {url}.*backend.base_url"):
        backend.generate([ask("hi"), ask("ho")])
    with pytest.raises(PlugtuneError, match=rf"cannot reach {url}"):
        list(backend.stream(ask("hi")))


def test_the_official_openai_client_talks_to_the_server(base_url, local):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=base_url, api_key="unused")
    assert [model.id for model in client.models.list()] == [MODEL]
    messages = [{"role": "user", "content": "Tell me a story about a dragon"}]
    expected = local.generate([ask(messages[0]["content"])])[0]
    completion = client.chat.completions.create(model=MODEL, messages=messages)
    assert completion.choices[0].message.content == expected
    assert completion.usage.completion_tokens > 0
    stream = client.chat.completions.create(model=MODEL, messages=messages, stream=True)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream
                   if chunk.choices) == expected
    two = client.chat.completions.create(model=MODEL, messages=messages, n=2)
    assert [choice.message.content for choice in two.choices] == [expected, expected]
    with pytest.raises(openai.BadRequestError, match="response_format"):
        client.chat.completions.create(model=MODEL, messages=messages,
                                       response_format={"type": "json_object"})


def test_leaving_a_stream_early_frees_the_server_for_the_next_request(base_url, local):
    backend = remote(base_url, timeout=HUNG_S)
    params = GenerationConfig(max_new_tokens=200)
    for piece in backend.stream(ask("hi"), params):
        assert piece
        break
    assert backend.generate([ask("2+2")]) == local.generate([ask("2+2")])
