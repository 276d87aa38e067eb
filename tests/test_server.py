"""``plugtune serve``'s app: OpenAI-shaped answers from a real backend (tiny://qwen2)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from plugtune import Session
from plugtune.core.config import GenerationConfig, RunConfig
from plugtune.core.records import Conversation, Message
from plugtune.inference import load_backend
from plugtune.inference.server import create_app
from tests.helpers import threaded_server

MODEL = "tiny-qwen2"


@pytest.fixture(scope="module")
def backend():
    config = RunConfig.model_validate({"generation": {"max_new_tokens": 6}})
    return load_backend(config, Session())


@pytest.fixture(scope="module")
def client(backend):
    return TestClient(create_app(backend, MODEL))


def chat(**fields):
    return {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], **fields}


def events(response) -> list:
    assert response.headers["content-type"].startswith("text/event-stream")
    lines = [line for line in response.text.split("\n") if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    return [json.loads(line[len("data: "):]) for line in lines[:-1]]


def test_models_lists_the_served_model(client):
    data = client.get("/v1/models").json()
    assert data["object"] == "list"
    assert [model["id"] for model in data["data"]] == [MODEL]


def test_a_greedy_answer_is_the_backends_answer(client, backend):
    messages = [{"role": "system", "content": "be brief"},
                {"role": "user", "content": "Translate to Chinese: cat"}]
    response = client.post("/v1/chat/completions", json=chat(messages=messages, max_tokens=5))
    assert response.status_code == 200, response.text
    body = response.json()
    conversation = Conversation((Message("system", "be brief"),
                                 Message("user", "Translate to Chinese: cat")))
    expected = backend.generate([conversation], GenerationConfig(max_new_tokens=5))[0]
    assert expected
    assert body["object"] == "chat.completion" and body["model"] == MODEL
    assert body["id"].startswith("chatcmpl-")
    [choice] = body["choices"]
    assert choice["message"] == {"role": "assistant", "content": expected}
    assert choice["finish_reason"] in ("stop", "length")

    tokenizer, template = backend.tokenizer, backend.template
    prompt = template.render(conversation, add_generation_prompt=True)
    prompt_tokens = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    completion_tokens = expected.tokens  # what the backend generated, not the text re-encoded
    assert body["usage"] == {"prompt_tokens": prompt_tokens,
                             "completion_tokens": completion_tokens,
                             "total_tokens": prompt_tokens + completion_tokens}
    assert 0 < completion_tokens <= 5


def test_the_config_defaults_apply_when_the_request_leaves_fields_out(client, backend):
    body = client.post("/v1/chat/completions", json=chat()).json()
    hi = Conversation((Message("user", "hi"),))
    assert body["choices"][0]["message"]["content"] == backend.generate([hi])[0]
    assert backend.generation.max_new_tokens == 6


def test_stop_strings_from_the_request_cut_the_answer(client, backend):
    full = client.post("/v1/chat/completions", json=chat()).json()
    text = full["choices"][0]["message"]["content"]
    stop = text.strip().split()[1] if len(text.split()) > 1 else text[2:4]
    cut = client.post("/v1/chat/completions", json=chat(stop=stop)).json()
    assert cut["choices"][0]["message"]["content"] == text[: text.index(stop)]
    assert cut["choices"][0]["finish_reason"] == "stop"


def test_streamed_chunks_join_to_the_same_answer(client):
    messages = [{"role": "user", "content": "2+2"}]
    whole = client.post("/v1/chat/completions", json=chat(messages=messages)).json()
    response = client.post("/v1/chat/completions",
                           json=chat(messages=messages, stream=True,
                                     stream_options={"include_usage": True}))
    assert response.status_code == 200
    chunks = events(response)
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(chunk["choices"][0]["delta"].get("content") or ""
                   for chunk in chunks if chunk["choices"])
    assert text == whole["choices"][0]["message"]["content"]
    pieces = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert len(pieces) > 1
    finish = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finish) == 1
    assert finish[0]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == whole["usage"]


@pytest.mark.parametrize(("fields", "message"), [
    ({"n": 17}, "n: Input should be less than or equal to 16"),
    ({"logit_bias": {"1": 5}}, "logit_bias: unsupported field"),
    ({"temperature": -1}, "temperature: Input should be greater than or equal to 0"),
    ({"temperature": 2.5}, "temperature: Input should be less than or equal to 2"),
    ({"max_tokens": 0}, "max_tokens: Input should be greater than or equal to 1"),
    ({"messages": []}, "messages: List should have at least 1 item"),
    ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role: Input should be"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"response_format": {"type": "json_object"}}, "does not constrain decoding"),
    ({"tool_choice": "required"}, "tool_choice: only 'auto' and 'none'"),
    ({"top_logprobs": 2}, "top_logprobs: needs logprobs: true"),
    ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
     "the last message must be from the user"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
     "messages[0].content[0]: only text parts"),
])
def test_bad_requests_are_400_with_a_clear_message(client, fields, message):
    response = client.post("/v1/chat/completions", json=chat(**fields))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert message in error["message"]
    assert error["type"] == "invalid_request_error"


def test_a_body_that_is_not_a_json_object_is_400(client):
    response = client.post("/v1/chat/completions", content=b"[1, 2]",
                           headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "JSON object" in response.json()["error"]["message"]


def test_an_unknown_model_is_404_naming_the_served_one(client):
    response = client.post("/v1/chat/completions", json=chat(model="gpt-9"))
    assert response.status_code == 404
    assert "'gpt-9' is not served here" in response.json()["error"]["message"]
    assert MODEL in response.json()["error"]["message"]


def test_text_content_parts_are_joined(client, backend):
    parts = [{"type": "text", "text": "Translate to "}, {"type": "text", "text": "Chinese: cat"}]
    body = client.post("/v1/chat/completions",
                       json=chat(messages=[{"role": "user", "content": parts}])).json()
    direct = backend.generate([Conversation((Message("user", "Translate to Chinese: cat"),))])
    assert body["choices"][0]["message"]["content"] == direct[0]


def test_the_serve_command_builds_the_app_from_the_config(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from plugtune.cli import cli
    from plugtune.inference import server
    from plugtune.sdk.cli import CliState

    started = {}
    monkeypatch.setattr(server, "serve", lambda app, host, port, **_: started.update(
        app=app, host=host, port=port))
    config = tmp_path / "run.yaml"
    config.write_text("generation: {max_new_tokens: 2}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["serve", str(config), "--port", "8123",
                                      "--model-name", "mine"], obj=CliState())
    assert result.exit_code == 0, result.output
    assert (started["host"], started["port"]) == ("127.0.0.1", 8123)
    client = TestClient(started["app"])
    assert client.get("/v1/models").json()["data"][0]["id"] == "mine"
    body = client.post("/v1/chat/completions", json=chat(model="mine")).json()
    assert body["usage"]["completion_tokens"] <= 2 + 2
    assert body["choices"][0]["message"]["content"]


def test_an_api_key_is_required_when_set(backend, tmp_path, monkeypatch):
    client = TestClient(create_app(backend, MODEL, api_key="s3cret"))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
        response = client.post("/v1/chat/completions", json=chat(), headers=headers)
        assert response.status_code == 401, headers
        error = response.json()["error"]
        assert error["code"] == "invalid_api_key" and error["type"] == "invalid_request_error"
        assert client.get("/v1/models", headers=headers).status_code == 401
    assert "Bearer" in client.get("/v1/models").json()["error"]["message"]
    good = {"Authorization": "Bearer s3cret"}
    assert client.get("/v1/models", headers=good).status_code == 200
    response = client.post("/v1/chat/completions", json=chat(), headers=good)
    assert response.status_code == 200 and response.json()["choices"][0]["message"]["content"]

    from click.testing import CliRunner

    from plugtune.cli import cli
    from plugtune.inference import server
    from plugtune.sdk.cli import CliState

    started = {}
    monkeypatch.setattr(server, "serve", lambda app, host, port, **_: started.update(app=app))
    monkeypatch.setenv("PLUGTUNE_API_KEY", "from-env")
    config = tmp_path / "run.yaml"
    config.write_text("generation: {max_new_tokens: 2}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["serve", str(config)], obj=CliState())
    assert result.exit_code == 0, result.output
    client = TestClient(started["app"])
    assert client.get("/v1/models").status_code == 401
    assert client.get("/v1/models",
                      headers={"Authorization": "Bearer from-env"}).status_code == 200


class Counting:
    """Wraps a backend: counts generate calls and the batch sizes."""

    def __init__(self, backend):
        self.inner, self.sizes = backend, []
        self.batch_size, self.generation = 8, backend.generation
        self.tokenizer, self.template = backend.tokenizer, backend.template

    def generate(self, conversations, params=None):
        self.sizes.append(len(conversations))
        return self.inner.generate(conversations, params)

    def stream(self, conversation, params=None):
        return self.inner.stream(conversation, params)

    def use_adapter(self, name):
        self.inner.use_adapter(name)


PROMPTS = ["hi", "Translate to Chinese: cat", "2+2", "Tell me a story about a dragon",
           "What is LoRA?", "Name three colors", "ok", "Why is the sky blue?"]


@pytest.mark.slow
def test_concurrent_requests_are_batched_over_real_http(backend):
    from concurrent.futures import ThreadPoolExecutor

    httpx = pytest.importorskip("httpx")

    counting = Counting(backend)
    app = create_app(counting, MODEL, batch_window_s=0.05)
    with threaded_server(app) as base:
        url = f"{base}/v1/chat/completions"
        def ask(prompt, **fields):
            body = chat(messages=[{"role": "user", "content": prompt}], **fields)
            response = httpx.post(url, json=body, timeout=60)
            assert response.status_code == 200, response.text
            return response.json()["choices"][0]["message"]["content"]

        sequential = [ask(prompt) for prompt in PROMPTS]
        assert counting.sizes == [1] * len(PROMPTS)
        counting.sizes.clear()
        with ThreadPoolExecutor(len(PROMPTS)) as pool:
            concurrent = list(pool.map(ask, PROMPTS))
        assert concurrent == sequential
        assert sum(counting.sizes) == len(PROMPTS)
        assert len(counting.sizes) < len(PROMPTS), counting.sizes

        counting.sizes.clear()  # other sampling parameters: never in the same batch
        with ThreadPoolExecutor(4) as pool:
            mixed = list(pool.map(lambda i: ask(PROMPTS[i], max_tokens=2 + i % 2), range(4)))
        assert len(counting.sizes) >= 2 and sum(counting.sizes) == 4
        for i, answer in enumerate(mixed):
            assert answer == ask(PROMPTS[i], max_tokens=2 + i % 2)
