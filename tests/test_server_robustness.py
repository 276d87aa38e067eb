"""``plugtune serve`` as a real process under what a public endpoint meets: impossible
requests, clients that leave, 64 clients at once, hundreds of malformed and hostile
requests, a full queue, and SIGTERM in the middle of a generation. What the server did
is read from its -vv log (each batch, each answer's tokens and finish reason) and its
/health, never from how long something took."""

from __future__ import annotations

import json
import random
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from tests.helpers import HUNG_S, wait_for  # noqa: E402
from tests.serving import ServerProcess, serving  # noqa: E402

CHAT = "/v1/chat/completions"
# A greedy tiny://qwen2 answer runs to any length (no end-of-turn): about 150 tokens/s
# here, so a request for LONG tokens that was not stopped would hold the model ~10 s.
LONG = 1500


def chat(text: str = "hello", **fields: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], **fields}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    config = {"generation": {"max_new_tokens": 8},
              "backend": {"name": "transformers", "batch_size": 8}}
    with serving(tmp_path_factory.mktemp("robust"), config, "--max-body-mb", "1") as running:
        yield running


def post(server: ServerProcess, body: Any, timeout: float = HUNG_S,
         **kwargs: Any) -> httpx.Response:
    return httpx.post(server.url + CHAT, json=body, timeout=timeout, **kwargs)


def nothing_holds_the_model(server: ServerProcess, before: int) -> list[tuple[int, str]]:
    """A short request is answered, and no request answered since the first ``before``
    ran to LONG tokens: the server has one lane, so the short one is answered only after
    whatever was still generating, and a request that was not stopped would be logged
    with its LONG tokens by then. Returns those requests' ``(tokens, finish reason)``."""
    response = post(server, chat("ping", max_tokens=2))
    assert response.status_code == 200, response.text
    answered = server.answered()[before:]
    assert all(tokens < LONG for tokens, _ in answered), answered
    return answered


@pytest.mark.slow
def test_a_huge_max_tokens_is_refused_at_once(server):
    batches = len(server.batch_sizes())
    response = post(server, chat(max_tokens=10**12))
    assert response.status_code == 400
    assert "exceeds the model's context length 2048" in response.json()["error"]["message"]
    assert len(server.batch_sizes()) == batches  # refused before the queue: never generated


@pytest.mark.slow
def test_a_stream_whose_client_leaves_stops_generating(server):
    before = len(server.answered())
    with httpx.stream("POST", server.url + CHAT, timeout=HUNG_S,
                      json=chat("Tell me a long story", max_tokens=LONG, stream=True)) as stream:
        lines = stream.iter_lines()
        received = [line for _, line in zip(range(6), lines, strict=False)]
        assert any(line.startswith("data: ") for line in received)
    assert any(reason == "abort" for _, reason in nothing_holds_the_model(server, before))


@pytest.mark.slow
def test_a_whole_request_whose_client_leaves_stops_generating(server):
    before = len(server.answered())
    with pytest.raises(httpx.ReadTimeout):
        post(server, chat("Tell me a long story", max_tokens=LONG), timeout=0.5)
    nothing_holds_the_model(server, before)


@pytest.mark.slow
def test_sixty_four_clients_at_once(server):
    prompts = [f"Describe item {index}" for index in range(8)]
    expected = {prompt: post(server, chat(prompt, max_tokens=6)).json()
                ["choices"][0]["message"]["content"] for prompt in prompts}
    post(server, chat(max_tokens=6))  # warm: the first batches allocate
    baseline = server.rss_kib()
    before = len(server.answered())
    statuses: list[int] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        prompt = prompts[index % len(prompts)]
        kind = index % 8
        if kind in (0, 1, 2, 3):  # half stream
            stream_and_check(server, prompt, expected[prompt], leave=kind == 3)
        elif kind == 4:  # a quarter leave early (with kind 3)
            with pytest.raises(httpx.ReadTimeout):  # a whole LONG answer takes seconds
                post(server, chat(prompt, max_tokens=LONG), timeout=0.3)
        elif kind == 5:  # malformed
            response = post(server, {"messages": [{"role": "user", "content": 5}]})
            with lock:
                statuses.append(response.status_code)
            assert response.status_code == 400
        else:
            response = post(server, chat(prompt, max_tokens=6))
            with lock:
                statuses.append(response.status_code)
            assert response.json()["choices"][0]["message"]["content"] == expected[prompt]

    with ThreadPoolExecutor(64) as pool:
        for future in [pool.submit(client, index) for index in range(64)]:
            future.result()
    assert statuses and all(status < 500 for status in statuses)
    nothing_holds_the_model(server, before)
    grown = server.rss_kib() - baseline
    assert grown < 96 * 1024, f"the server kept {grown / 1024:.0f} MiB after the burst"


def stream_and_check(server: ServerProcess, prompt: str, expected: str, leave: bool) -> None:
    body = chat(prompt, max_tokens=LONG if leave else 6, stream=True)
    with httpx.stream("POST", server.url + CHAT, json=body, timeout=60) as stream:
        assert stream.status_code == 200
        pieces = []
        for line in stream.iter_lines():
            if leave and len(pieces) >= 2:
                return  # closing the stream mid-answer
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choices = json.loads(line[6:])["choices"]
            if choices:
                pieces.append(choices[0]["delta"].get("content") or "")
    assert "".join(pieces) == expected


def as_json(body: Any) -> dict[str, Any]:
    """httpx keyword arguments sending ``body`` as JSON with ASCII escapes, so that lone
    surrogates travel as ``\\ud800`` (httpx's own encoder refuses them)."""
    return {"content": json.dumps(body).encode(), "headers": {"content-type": "application/json"}}


def hostile_requests(count: int, seed: int = 0) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, path, httpx keyword arguments) for malformed and hostile requests."""
    rng = random.Random(seed)
    good = chat("hi", max_tokens=2)
    bad_values: list[Any] = [None, -1, 0, 3.5, 10**30, "x", "", [], {}, [1], {"a": 1}, True,
                             "\ud800", "../../etc/passwd", "a" * 5000]
    fields = ["messages", "model", "temperature", "top_p", "top_k", "max_tokens", "stop", "n",
              "stream", "seed", "tools", "tool_choice", "logprobs", "top_logprobs",
              "response_format", "chat_template_kwargs", "stream_options", "wizard"]
    message_fields = ["role", "content", "name", "tool_calls", "tool_call_id"]
    shapes = ["field", "message", "raw", "content_type", "path", "image", "big"]
    for _ in range(count):
        shape = rng.choice(shapes)
        if shape == "field":
            value = rng.choice(bad_values)
            if rng.random() < 0.5 and isinstance(value, int | float) and value > 0:
                value = -value  # valid sizes would generate: keep every value invalid
            body = {**good, rng.choice(fields): value}
            if body.get("max_tokens") in (1, 3.5) or body.get("stream") is True:
                body["max_tokens"] = -1
            yield "POST", CHAT, as_json(body)
        elif shape == "message":
            message = {"role": "user", "content": "hi", rng.choice(message_fields):
                       rng.choice(bad_values)}
            yield "POST", CHAT, as_json({**good, "messages": [message]})
        elif shape == "raw":
            raw = rng.choice([b"{", b"null", b"[]", b'{"messages": "x"}', b"\x00\xff" * 10,
                              b'{"messages": [' * 50, b'{"a": 1e999}', b"NaN", b'"\\ud800"'])
            yield "POST", CHAT, {"content": raw, "headers": {"content-type": "application/json"}}
        elif shape == "content_type":
            kind = rng.choice(["text/plain", "application/xml", "multipart/form-data",
                               "application/x-www-form-urlencoded"])
            yield "POST", CHAT, {"content": json.dumps(good), "headers": {"content-type": kind}}
        elif shape == "path":
            path = rng.choice(["/v1/../v1/chat/completions", "/v1/chat/completions/../../x",
                               "/v1/%2e%2e/etc/passwd", "/v1/models/../../", "/" + "a" * 3000,
                               "/v1/chat/completions%00", "/v1/files", "/docs/../etc"])
            yield rng.choice(["GET", "POST", "DELETE"]), path, as_json(good)
        elif shape == "image":
            url = rng.choice(["data:image/png;base64,!!!!", "data:,", "file:///etc/passwd",
                              "http://example.com/a.png", "data:image/png;base64," + "A" * 99])
            content = [{"type": "image_url", "image_url": {"url": url}}]
            yield "POST", CHAT, as_json({**good, "messages": [{"role": "user",
                                                                "content": content}]})
        else:
            yield "POST", CHAT, {"content": b'{"messages": "' + b"x" * (1_100_000) + b'"}',
                                 "headers": {"content-type": "application/json"}}


@pytest.mark.slow
def test_hundreds_of_hostile_requests_get_4xx_and_the_server_goes_on(server):
    statuses = []
    before = len(server.answered())
    with httpx.Client(base_url=server.url, timeout=HUNG_S) as client:
        for method, path, kwargs in hostile_requests(320):
            response = client.request(method, path, **kwargs)  # a dropped connection raises
            assert response.status_code < 500, (method, path, kwargs, response.text)
            statuses.append(response.status_code)
    assert sum(400 <= status < 500 for status in statuses) >= 300
    # The few accepted ones ask for at most 2 tokens: none held the model.
    assert all(tokens <= 2 for tokens, _ in server.answered()[before:]), server.answered()
    assert post(server, chat("ping", max_tokens=2)).status_code == 200


@pytest.mark.slow
def test_a_full_queue_is_429_and_sigterm_ends_generation_within_the_grace(tmp_path):
    config = {"generation": {"max_new_tokens": 8},
              "backend": {"name": "transformers", "batch_size": 1}}
    with serving(tmp_path, config, "--max-queue", "2", "--shutdown-grace", "1",
                 "--batch-window-ms", "0") as server, ThreadPoolExecutor(3) as pool:
        running = [pool.submit(post, server, chat(f"story {index}", max_tokens=LONG))
                   for index in range(3)]  # one generating, two waiting
        wait_for(lambda: "batch of 1 request" in server.output()
                 and server.health()["waiting"] == 2, what=f"one generating, two waiting\n"
                 f"{server.output()[-3000:]}")
        refused = post(server, chat(max_tokens=2))
        assert refused.status_code == 429, refused.text
        assert refused.headers["retry-after"] == "1"
        server.process.send_signal(signal.SIGTERM)
        # Within the grace, or LONG tokens later: the generating request was stopped.
        assert server.process.wait(timeout=HUNG_S) == 0, server.output()
        statuses = [future.result().status_code for future in running]
        assert all(reason == "abort" for _, reason in server.answered()), server.output()
    assert statuses == [503, 503, 503], statuses
