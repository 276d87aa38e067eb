"""The rest of OpenAI's API on tiny://qwen2, in-process: logprobs, n choices, seeds,
text completions (echo, logprobs, streaming), and exact usage in every case."""

from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from plugtune import Session
from plugtune.core.config import GenerationConfig, RunConfig
from plugtune.core.records import Conversation, Message
from plugtune.inference import load_backend
from plugtune.inference.server import create_app
from plugtune.sdk.backends.requests import GenerationRequest

MODEL = "tiny://qwen2"


@pytest.fixture(scope="module")
def backend():
    config = RunConfig.model_validate({"model": {"path": MODEL},
                                       "generation": {"max_new_tokens": 6}})
    return load_backend(config, Session())


@pytest.fixture(scope="module")
def client(backend):
    return TestClient(create_app(backend, MODEL))


def chat(text: str = "hello", **fields):
    return {"messages": [{"role": "user", "content": text}], **fields}


def events(response) -> list[dict]:
    lines = [line for line in response.text.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    return [json.loads(line[6:]) for line in lines[:-1]]


def prompt_length(backend, text: str) -> int:
    return backend.prompt_tokens(GenerationRequest(Conversation((Message("user", text),))))


def test_chat_logprobs_are_the_models_log_softmax_of_each_generated_token(client, backend):
    import torch

    body = client.post("/v1/chat/completions",
                       json=chat(logprobs=True, top_logprobs=3, max_tokens=4)).json()
    [choice] = body["choices"]
    tokens = choice["logprobs"]["content"]
    assert len(tokens) == body["usage"]["completion_tokens"] == 4
    assert "".join(token["token"] for token in tokens) == choice["message"]["content"]
    for token in tokens:
        assert token["logprob"] <= 0 and len(token["top_logprobs"]) == 3
        best = [alternative["logprob"] for alternative in token["top_logprobs"]]
        assert best == sorted(best, reverse=True)
        assert token["logprob"] == pytest.approx(best[0], abs=1e-5)  # greedy: the best one
    # The first token's logprob, computed directly from the model's logits.
    prompt = backend.template.render(Conversation((Message("user", "hello"),)),
                                     add_generation_prompt=True)
    ids = backend.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits = backend.model(input_ids=ids).logits[0, -1]
    expected = torch.log_softmax(logits.float(), -1).max().item()
    assert tokens[0]["logprob"] == pytest.approx(expected, abs=1e-4)


def test_n_choices_and_usage_counts_every_generated_token(client, backend):
    body = client.post("/v1/chat/completions",
                       json=chat(n=3, temperature=1.0, seed=5, max_tokens=5)).json()
    assert [choice["index"] for choice in body["choices"]] == [0, 1, 2]
    usage = body["usage"]
    assert usage["prompt_tokens"] == prompt_length(backend, "hello")
    assert usage["completion_tokens"] == 15  # the tiny model never stops early
    assert usage["total_tokens"] == usage["prompt_tokens"] + 15


def test_a_seed_makes_sampling_repeatable(client):
    def sample(seed: int) -> str:
        body = client.post("/v1/chat/completions",
                           json=chat(temperature=1.0, seed=seed, max_tokens=8)).json()
        return body["choices"][0]["message"]["content"]

    assert sample(11) == sample(11)
    assert len({sample(seed) for seed in range(4)}) > 1


def test_a_streamed_request_with_n_choices_and_logprobs(client):
    whole = client.post("/v1/chat/completions", json=chat(n=2, max_tokens=4)).json()
    response = client.post("/v1/chat/completions", json=chat(
        n=2, max_tokens=4, stream=True, logprobs=True, stream_options={"include_usage": True}))
    chunks = events(response)
    for index in (0, 1):
        mine = [c["choices"][0] for c in chunks if c["choices"] and
                c["choices"][0]["index"] == index]
        text = "".join(choice["delta"].get("content") or "" for choice in mine)
        assert text == whole["choices"][index]["message"]["content"]
        assert [choice["finish_reason"] for choice in mine][-1] == "length"
        assert len(mine[-1]["logprobs"]["content"]) == 4
    assert chunks[-1]["usage"] == whole["usage"]


def test_text_completions_continue_the_raw_prompt(client, backend):
    prompt = "The capital of France is"
    body = client.post("/v1/completions", json={"prompt": prompt, "max_tokens": 5}).json()
    assert body["object"] == "text_completion"
    [choice] = body["choices"]
    expected = backend.answer_requests([GenerationRequest(prompt=prompt)],
                                       GenerationConfig(max_new_tokens=5))[0]
    assert choice["text"] == expected and choice["finish_reason"] == "length"
    ids = backend.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert body["usage"] == {"prompt_tokens": len(ids), "completion_tokens": 5,
                             "total_tokens": len(ids) + 5}
    echoed = client.post("/v1/completions",
                         json={"prompt": prompt, "max_tokens": 5, "echo": True}).json()
    assert echoed["choices"][0]["text"] == prompt + expected


def test_text_completion_logprobs_lists_and_streams(client):
    body = client.post("/v1/completions", json={
        "prompt": ["one two", "three"], "max_tokens": 3, "logprobs": 2, "n": 2}).json()
    assert [choice["index"] for choice in body["choices"]] == [0, 1, 2, 3]
    scored = body["choices"][0]["logprobs"]
    assert len(scored["tokens"]) == 3 and len(scored["top_logprobs"][0]) <= 2
    assert all(math.isfinite(value) and value <= 0 for value in scored["token_logprobs"])
    assert scored["text_offset"][0] == 0
    assert "".join(scored["tokens"]) == body["choices"][0]["text"]
    whole = client.post("/v1/completions", json={"prompt": "one two", "max_tokens": 4}).json()
    streamed = events(client.post("/v1/completions", json={
        "prompt": "one two", "max_tokens": 4, "stream": True}))
    assert "".join(c["choices"][0]["text"] for c in streamed) == whole["choices"][0]["text"]
    assert streamed[-1]["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize(("body", "words"), [
    ({"prompt": "x", "echo": True, "logprobs": 1}, "echo with logprobs"),
    ({"prompt": ""}, "prompt"),
    ({"prompt": [1, 2, 3]}, "prompt"),
    ({"prompt": "x", "suffix": "y"}, "suffix"),
    ({"prompt": "x", "best_of": 3}, "best_of"),
    ({"prompt": "x", "max_tokens": 10**9}, "context length"),
])
def test_bad_text_completions_are_400(client, body, words):
    response = client.post("/v1/completions", json=body)
    assert response.status_code == 400, response.text
    assert words in response.json()["error"]["message"]
