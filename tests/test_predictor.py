"""``plugtune.Predictor``: the short Python entry (tiny://qwen2, greedy)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from plugtune import Predictor, Session
from plugtune.core.config import GenerationConfig, RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.records import Conversation, Message
from plugtune.inference.predictor import Predictor as DirectPredictor

QUESTIONS = ["hi", "Translate to Chinese: cat", "2+2", "Tell me a story about a dragon"]


class Recording:
    """Wraps a backend; keeps every conversation and counts generate calls."""

    def __init__(self, backend):
        self.inner, self.calls, self.seen = backend, 0, []
        self.batch_size = backend.batch_size

    def generate(self, conversations, params=None):
        self.calls += 1
        self.seen += list(conversations)
        return self.inner.generate(conversations, params)

    def stream(self, conversation, params=None):
        self.seen.append(conversation)
        return self.inner.stream(conversation, params)

    def use_adapter(self, name):
        self.inner.use_adapter(name)


@pytest.fixture(scope="module")
def predictor():
    predictor = Predictor("tiny://qwen2", max_new_tokens=6)
    predictor.backend = Recording(predictor.backend)
    return predictor


def test_the_package_exports_it_lazily():
    assert Predictor is DirectPredictor
    code = ("import sys, plugtune; assert 'torch' not in sys.modules; "
            "assert 'plugtune.inference.predictor' not in sys.modules; "
            "plugtune.Predictor; assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
    with pytest.raises(AttributeError):
        _ = __import__("plugtune").NoSuchThing


def test_one_question_is_the_backends_greedy_answer(predictor):
    answer = predictor("hi")
    assert isinstance(answer, str) and answer
    direct = predictor.backend.inner.generate([Conversation((Message("user", "hi"),))],
                                              GenerationConfig(max_new_tokens=6))
    assert answer == direct[0]


def test_a_batch_is_one_generate_call_and_equals_one_by_one(predictor):
    histories = [None, [("hi", "hello")], [{"role": "user", "content": "a"},
                                           {"role": "assistant", "content": "b"}], None]
    one_by_one = [predictor(q, history=h) for q, h in zip(QUESTIONS, histories, strict=True)]
    calls = predictor.backend.calls
    batch = predictor(QUESTIONS, histories=histories)
    assert predictor.backend.calls == calls + 1
    assert batch == one_by_one
    assert predictor([]) == []


def test_the_history_and_system_prompt_are_in_the_prompt(predictor):
    history = [("What is LoRA?", "Low-rank adapters."), ("And QLoRA?", "LoRA on 4 bits.")]
    predictor.backend.seen.clear()
    answer = predictor("Which is smaller?", history=history, system="be brief")
    [conversation] = predictor.backend.seen
    assert [(m.role, m.content) for m in conversation.messages] == [
        ("system", "be brief"),
        ("user", "What is LoRA?"), ("assistant", "Low-rank adapters."),
        ("user", "And QLoRA?"), ("assistant", "LoRA on 4 bits."),
        ("user", "Which is smaller?"),
    ]
    rendered = predictor.backend.inner.template.render(conversation, add_generation_prompt=True)
    assert "Low-rank adapters." in rendered and "And QLoRA?" in rendered
    expected = predictor.backend.inner.generate([conversation])[0]
    assert answer == expected
    as_dicts = [{"role": "user", "content": "What is LoRA?"},
                {"role": "assistant", "content": "Low-rank adapters."},
                {"role": "user", "content": "And QLoRA?"},
                {"role": "assistant", "content": "LoRA on 4 bits."}]
    assert predictor("Which is smaller?", history=as_dicts, system="be brief") == answer


def test_stream_joins_to_the_call_result(predictor):
    history = [("hi", "hello")]
    pieces = list(predictor.stream("Tell me a story about a dragon", history=history))
    assert len(pieces) > 1
    assert "".join(pieces) == predictor("Tell me a story about a dragon", history=history)


def test_generation_can_be_overridden_per_call(predictor):
    short = predictor("Tell me a story about a dragon", max_new_tokens=2)
    assert predictor("Tell me a story about a dragon").startswith(short)
    with pytest.raises(ConfigError, match="generation"):
        predictor("hi", max_new_tokens=0)


def test_bad_arguments_are_clear_errors(predictor):
    with pytest.raises(ValueError, match="2 questions but 1 histories"):
        predictor(["a", "b"], histories=[None])
    with pytest.raises(TypeError, match="histories="):
        predictor(["a", "b"], history=[("x", "y")])
    with pytest.raises(ValueError, match=r"history\[0\]"):
        predictor("q", history=["not a turn"])


def test_a_run_config_can_be_given_whole():
    config = RunConfig.model_validate({"generation": {"max_new_tokens": 9}})
    predictor = Predictor(config=config, session=Session(), max_new_tokens=3)
    assert predictor.generation.max_new_tokens == 3
    assert predictor.config.model.path == "tiny://qwen2"
    assert isinstance(predictor("hi"), str)


def test_a_request_that_cannot_fit_the_context_fails_at_once(predictor, monkeypatch):
    from plugtune.sdk.backends.requests import ContextLengthError

    def generated(*args, **kwargs):
        raise AssertionError("the model generated for a request that cannot fit")

    # Refused before generating: the model's generate is never reached.
    monkeypatch.setattr(predictor.backend.inner.model, "generate", generated)
    with pytest.raises(ContextLengthError, match="exceeds the model's context length 2048"):
        predictor("hi", max_new_tokens=10**9)
    with pytest.raises(ContextLengthError, match="exceeds the model's context length"):
        list(predictor.stream("hi", max_new_tokens=10**9))
    with pytest.raises(ContextLengthError, match="the prompt is .* tokens"):
        predictor("word " * 3000)
