"""The server's limits in-process: context length, body size and content, the bounded
queue, deadlines, stopped requests, and the scheduler that batches streamed and whole
requests together. A scripted backend (one token per step, honouring should_stop, held
at its next step while a test says so) stands in where only the order of events
matters; the tiny model where answers matter. No test bounds how long something takes:
each waits for the event it needs, with a deadline only a hung test reaches."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from plugtune import Session
from plugtune.core.config import GenerationConfig, RunConfig
from plugtune.core.errors import PlugtuneError
from plugtune.core.records import Conversation, Message
from plugtune.inference import load_backend
from plugtune.inference.answering import Answering
from plugtune.inference.http_bodies import RequestError
from plugtune.inference.scheduler import QueueFull, Scheduler
from plugtune.inference.server import create_app
from plugtune.sdk.backends.decoding import Answer
from plugtune.sdk.backends.requests import GenerationRequest
from tests.helpers import HUNG_S, wait_for

MODEL = "tiny://qwen2"


def chat(text: str = "hello", **fields):
    return {"messages": [{"role": "user", "content": text}], **fields}


def conversation(text: str) -> Conversation:
    return Conversation((Message("user", text),))


class Scripted:
    """A backend that generates one ``x`` per step, ``step_s`` apart, streams it, and
    stops a row whose request should stop, as a real backend must; its prompts count
    one token per word, in a 64-token context. Clearing ``go`` holds every row at its
    next step until it is set again; ``events`` lists each batch's start and end
    (``start:a,b`` / ``end:a,b``, by prompt)."""

    batch_size = 4
    context_length = 64

    def __init__(self, step_s: float = 0.02) -> None:
        self.step_s, self.generation = step_s, GenerationConfig(max_new_tokens=4)
        self.batches: list[int] = []
        self.events: list[str] = []
        self.running = threading.Event()
        self.go = threading.Event()
        self.go.set()

    def prompt_tokens(self, request: GenerationRequest) -> int:
        text = request.prompt if request.prompt is not None else \
            request.conversation.messages[-1].content
        return len(text.split())

    def answer_requests(self, requests, params=None):
        params = params or self.generation
        self.batches.append(len(requests))
        names = ",".join(r.conversation.messages[-1].content for r in requests)
        self.events.append(f"start:{names}")
        self.running.set()
        stopped: dict[int, int] = {}
        for step in range(params.max_new_tokens):
            assert self.go.wait(HUNG_S), "the test never let the backend go on"
            time.sleep(self.step_s)  # the model's pace, not a wait for anything
            for row, request in enumerate(requests):
                if row in stopped:
                    continue
                if request.should_stop():
                    stopped[row] = step
                elif request.on_piece is not None:
                    request.on_piece(Answer("x", 1))
            if len(stopped) == len(requests):
                break
        self.events.append(f"end:{names}")
        return [Answer("x" * stopped[row], stopped[row], "abort") if row in stopped
                else Answer("x" * params.max_new_tokens, params.max_new_tokens, "length")
                for row in range(len(requests))]

    def generate(self, conversations, params=None):
        return self.answer_requests([GenerationRequest(c) for c in conversations], params)

    def stream(self, conversation, params=None):
        yield from ()

    def use_adapter(self, name):
        pass


@pytest.fixture(scope="module")
def backend():
    config = RunConfig.model_validate({"model": {"path": MODEL},
                                       "generation": {"max_new_tokens": 4}})
    return load_backend(config, Session())


@pytest.fixture(scope="module")
def client(backend):
    return TestClient(create_app(backend, MODEL, max_body_bytes=4096))


def test_a_huge_max_tokens_is_refused_at_once_with_the_numbers(client, backend, monkeypatch):
    def generated(*args, **kwargs):
        raise AssertionError("the request reached the model")

    monkeypatch.setattr(backend, "answer_requests", generated)
    response = client.post("/v1/chat/completions", json=chat(max_tokens=10**12))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "max_tokens" and error["code"] == "context_length_exceeded"
    assert "context length 2048" in error["message"] and "1000000000000" in error["message"]


def test_a_prompt_longer_than_the_context_is_refused(backend):
    client = TestClient(create_app(backend, MODEL))  # the default body limit
    response = client.post("/v1/chat/completions", json=chat("word " * 3000))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "messages"
    assert "context length is 2048" in response.json()["error"]["message"]


def test_a_request_without_max_tokens_gets_what_is_left_of_the_context():
    answering = Answering(Scripted(), Scheduler(Scripted()))
    params = GenerationConfig(max_new_tokens=50)
    assert answering.fit(params, prompt_tokens=20, asked=None).max_new_tokens == 44
    assert answering.fit(params, prompt_tokens=10, asked=None).max_new_tokens == 50
    with pytest.raises(RequestError, match="max_new_tokens 50 \\+ 20 prompt tokens = 70"):
        answering.fit(params, prompt_tokens=20, asked=50)
    with pytest.raises(RequestError, match="the prompt is 64 tokens"):
        answering.fit(params, prompt_tokens=64, asked=None)


def test_the_backend_refuses_what_does_not_fit_for_every_caller(backend):
    with pytest.raises(PlugtuneError, match="exceeds the model's context length 2048"):
        backend.generate([conversation("hi")], GenerationConfig(max_new_tokens=10**9))


@pytest.mark.parametrize(("content", "headers", "status", "message"), [
    (b"x" * 5000, {"content-type": "application/json"}, 413, "larger than 4096 bytes"),
    (b'{"messages": []}', {"content-type": "text/plain"}, 415, "application/json"),
    (b"\xff\xfe{}", {"content-type": "application/json"}, 400, "not UTF-8"),
    (b'{"messages": [', {"content-type": "application/json"}, 400, "not valid JSON"),
    (b'{"temperature": NaN, "messages": []}', {}, 400, "NaN is not a JSON number"),
    (b'{"messages": [{"role": "user", "content": "\\ud800"}]}', {}, 400,
     "messages[0].content: the text has a lone surrogate"),
    (b"[" * 100 + b"]" * 100, {}, 400, "nested deeper than 64"),
    (b"[1, 2]", {}, 400, "must be a JSON object"),
])
def test_malformed_bodies_are_4xx_naming_the_problem(client, content, headers, status, message):
    response = client.post("/v1/chat/completions", content=content, headers=headers)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]["message"]


def test_a_body_larger_than_the_limit_is_refused_while_it_streams(client):
    def chunks():
        for _ in range(10):
            yield b" " * 1000  # no content-length: counted as it arrives

    response = client.post("/v1/chat/completions", content=chunks(),
                           headers={"content-type": "application/json"})
    assert response.status_code == 413


@pytest.mark.slow
def test_a_full_queue_answers_429_with_retry_after():
    scripted = Scripted(step_s=0)
    scripted.go.clear()  # the first request holds the backend until the third is refused
    client = TestClient(create_app(scripted, "s", max_queue=1, batch_window_s=0))
    scripted.batch_size = 1
    app_scheduler = client.app.state.scheduler
    app_scheduler.max_batch = 1
    with ThreadPoolExecutor(2) as pool:
        running = pool.submit(client.post, "/v1/chat/completions", json=chat(max_tokens=2))
        assert scripted.running.wait(HUNG_S)
        waiting = pool.submit(client.post, "/v1/chat/completions", json=chat(max_tokens=2))
        wait_for(lambda: app_scheduler.waiting == 1, what="the second request to queue")
        refused = client.post("/v1/chat/completions", json=chat(max_tokens=2))
        assert refused.status_code == 429, refused.text
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["code"] == "queue_full"
        scripted.go.set()
        assert running.result().status_code == 200 and waiting.result().status_code == 200


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.slow
def test_choices_past_the_queue_limit_refuse_the_request_and_stop_the_queued_ones(stream):
    scripted = Scripted(step_s=0)
    scripted.go.clear()  # the first request holds the backend while the choices queue
    client = TestClient(create_app(scripted, "s", max_queue=2, batch_window_s=0))
    scheduler = client.app.state.scheduler
    scheduler.max_batch = 1
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(client.post, "/v1/chat/completions", json=chat(max_tokens=2))
        assert scripted.running.wait(HUNG_S)
        refused = client.post("/v1/chat/completions", json=chat(n=3, stream=stream))
        assert refused.status_code == 429, refused.text
        scripted.go.set()
        assert running.result().status_code == 200
    # The two choices that found room were stopped: never generated.
    wait_for(lambda: scheduler.waiting == 0, what="the stopped choices to leave the queue")
    assert scripted.batches == [1]


def test_a_request_past_its_deadline_is_stopped_and_answered_408():
    # 10,000 steps of 0.05 s: answered only if the deadline stops it at the next step.
    scripted = Scripted(step_s=0.05)
    scripted.context_length = 20_000
    client = TestClient(create_app(scripted, "s", request_timeout_s=0.3))
    response = client.post("/v1/chat/completions", json=chat(max_tokens=10_000))
    assert response.status_code == 408, response.text
    assert client.post("/v1/chat/completions", json=chat(max_tokens=2)).status_code == 200


def test_health_reports_ok_then_shutting_down():
    client = TestClient(create_app(Scripted(), "s"))
    assert client.get("/health").json()["status"] == "ok"
    client.app.state.scheduler.close()
    response = client.get("/health")
    assert response.status_code == 503 and response.json()["status"] == "shutting down"
    refused = client.post("/v1/chat/completions", json=chat())
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "shutting_down"


def test_closing_the_scheduler_stops_running_requests_after_the_grace():
    scripted = Scripted(step_s=0.05)
    scheduler = Scheduler(scripted, window_s=0)
    job = scheduler.submit(GenerationRequest(conversation("a")),  # 500 s unless stopped
                           GenerationConfig(max_new_tokens=10_000))
    assert scripted.running.wait(HUNG_S)
    started = time.monotonic()
    scheduler.close(grace_s=0.2)
    assert job.done.wait(HUNG_S)
    assert time.monotonic() - started >= 0.2  # a lower bound: a busy machine only adds
    assert job.answer.finish_reason == "abort"
    with pytest.raises(PlugtuneError, match="shutting down"):
        scheduler.submit(GenerationRequest(conversation("b")), GenerationConfig())


def test_the_queue_limit_counts_waiting_requests_only():
    scripted = Scripted(step_s=0.05)
    scheduler = Scheduler(scripted, window_s=0, max_batch=1, max_queue=1)
    params = GenerationConfig(max_new_tokens=10)
    first = scheduler.submit(GenerationRequest(conversation("a")), params)
    assert scripted.running.wait(HUNG_S)
    scheduler.submit(GenerationRequest(conversation("b")), params)
    with pytest.raises(QueueFull):
        scheduler.submit(GenerationRequest(conversation("c")), params)
    first.request.cancel("test")


def test_a_failing_request_does_not_fail_its_batch():
    class Picky(Scripted):
        def answer_requests(self, requests, params=None):
            self.batches.append(len(requests))
            if any(r.conversation.messages[-1].content == "bad" for r in requests):
                raise PlugtuneError("bad prompt")
            return [Answer("ok:" + r.conversation.messages[-1].content, 1, "stop")
                    for r in requests]

    picky = Picky()
    scheduler = Scheduler(picky, window_s=0.2)
    params = GenerationConfig(max_new_tokens=2)

    def submit(text):
        try:
            return scheduler.answer(GenerationRequest(conversation(text)), params)
        except PlugtuneError as error:
            return f"error:{error}"

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(submit, ["a", "bad", "c"]))
    assert results == ["ok:a", "error:bad prompt", "ok:c"]
    assert picky.batches[0] == 3 and sum(picky.batches[1:]) == 3


def test_a_request_stopped_while_it_waited_is_never_generated():
    scripted = Scripted(step_s=0)
    scripted.go.clear()  # the first holds the backend until the second is cancelled
    scheduler = Scheduler(scripted, window_s=0, max_batch=1)
    params = GenerationConfig(max_new_tokens=6)
    first = scheduler.submit(GenerationRequest(conversation("a")), params)
    assert scripted.running.wait(HUNG_S)
    second = scheduler.submit(GenerationRequest(conversation("b")), params)
    second.request.cancel("the client disconnected")
    scripted.go.set()
    assert first.done.wait(HUNG_S) and second.done.wait(HUNG_S)
    assert second.answer.finish_reason == "abort" and scripted.batches == [1]


def test_one_stopped_row_ends_alone_and_the_others_answer_as_if_alone(backend):
    params = GenerationConfig(max_new_tokens=24)
    alone = backend.generate([conversation("Tell me a story")], params)[0]
    pieces: list[str] = []

    def on_piece(piece):
        pieces.append(piece)
        if len(pieces) == 2:
            stopped.cancel("test")

    stopped = GenerationRequest(conversation("hello there"), on_piece=on_piece)
    whole = GenerationRequest(conversation("Tell me a story"))
    cut, answered = backend.answer_requests([stopped, whole], params)
    assert cut.finish_reason == "abort" and cut.tokens < 24
    assert "".join(pieces) == cut
    assert answered == alone and answered.tokens == alone.tokens
    assert answered.finish_reason == alone.finish_reason == "length"


def test_streamed_and_whole_requests_share_a_batch(backend):
    params = GenerationConfig(max_new_tokens=12)
    texts = ["hi", "What is LoRA?", "Name three colors"]
    alone = backend.generate([conversation(text) for text in texts], params)
    streamed: list[list[str]] = [[], [], []]
    requests = [GenerationRequest(conversation(text),
                                  on_piece=streamed[i].append if i != 1 else None)
                for i, text in enumerate(texts)]
    answers = backend.answer_requests(requests, params)
    assert answers == alone
    assert "".join(streamed[0]) == answers[0] and "".join(streamed[2]) == answers[2]
    assert streamed[1] == []


@pytest.mark.parametrize(("lanes", "concurrent"), [(1, False), (2, False), (1, True)])
@pytest.mark.slow
def test_a_request_arriving_during_a_long_one_waits_only_without_a_free_lane(lanes,
                                                                             concurrent):
    """With one lane a request that arrives during a long answer waits for it; with two,
    or with a backend that ``answers_concurrently`` (vLLM), it is answered at once."""
    scripted = Scripted(step_s=0.02)
    scripted.answers_concurrently = concurrent
    scheduler = Scheduler(scripted, window_s=0, max_batch=1, lanes=lanes)
    long = scheduler.submit(GenerationRequest(conversation("long")),  # ends when cancelled
                            GenerationConfig(max_new_tokens=100_000))
    assert scripted.running.wait(HUNG_S)
    short = scheduler.submit(GenerationRequest(conversation("short")),
                             GenerationConfig(max_new_tokens=2))
    waited = lanes == 1 and not concurrent
    if not waited:  # answered while the long one runs
        assert short.done.wait(HUNG_S) and not long.done.is_set()
    long.request.cancel("test")
    assert long.done.wait(HUNG_S) and short.done.wait(HUNG_S) and short.answer == "xx"
    short_started = scripted.events.index("start:short")
    assert (short_started > scripted.events.index("end:long")) is waited, scripted.events


def test_two_lanes_answer_a_short_request_beside_a_long_one_on_the_tiny_model(backend):
    scheduler = Scheduler(backend, window_s=0, max_batch=1, lanes=2)
    long = scheduler.submit(GenerationRequest(conversation("Tell me a long story")),
                            GenerationConfig(max_new_tokens=2000))
    wait_for(lambda: scheduler.waiting == 0, what="the long request to start")
    short = scheduler.submit(GenerationRequest(conversation("hi")),
                             GenerationConfig(max_new_tokens=4))
    assert short.done.wait(HUNG_S)
    assert not long.done.is_set()
    assert short.answer == backend.generate([conversation("hi")],
                                            GenerationConfig(max_new_tokens=4))[0]
    long.request.cancel("test")
    assert long.done.wait(HUNG_S) and long.answer.finish_reason == "abort"
