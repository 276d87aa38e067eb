"""The transformers backend on tiny://qwen2: batching, stops, streaming, adapters."""

from __future__ import annotations

import itertools

import pytest

from plugtune import Session
from plugtune.core.config import GenerationConfig, RunConfig
from plugtune.core.errors import ConfigError
from plugtune.core.hookspecs import hookimpl
from plugtune.core.interfaces import Backend
from plugtune.core.records import Conversation, Message, RecordError
from plugtune.sdk.backends.decoding import (
    IncrementalDecoder,
    StopCutter,
    cut_at_stop,
    joined,
    until_stop_token,
)
from tests.adapters import random_lora

QUESTIONS = [
    "hi",
    "What is the capital of France? Answer in one word, please, and nothing else.",
    "LoRA",
    "Translate to Chinese: Low-rank adaptation",
    "Name the plugin kinds of plugtune.",
]
GREEDY = GenerationConfig(max_new_tokens=12)


def ask(question: str, system: str | None = None) -> Conversation:
    messages = ((Message("system", system),) if system else ()) + (Message("user", question),)
    return Conversation(messages, origin=f"test:{question[:8]}")


@pytest.fixture(scope="module")
def session() -> Session:
    return Session()


@pytest.fixture(scope="module")
def backend(session: Session) -> Backend:
    built = session.build("backends", {"name": "transformers", "batch_size": 3, "device": "cpu"})
    built.load(RunConfig(), session)
    return built


@pytest.fixture(scope="module")
def one_by_one(backend: Backend) -> list[str]:
    return [backend.generate([ask(question)], GREEDY)[0] for question in QUESTIONS]


def test_the_builtin_is_a_backend_with_validated_options(session):
    component = session.component("backends", "transformers")
    assert component.plugin.distribution == "plugtune"
    with pytest.raises(ConfigError, match="batch_size"):
        session.build("backends", {"name": "transformers", "batch_size": 0})
    assert isinstance(session.build("backends", "transformers"), Backend)


@pytest.mark.slow
def test_batched_greedy_equals_one_by_one(backend, one_by_one):
    """Left padding (and length sorting) leave each answer as it is alone."""
    conversations = [ask(question) for question in QUESTIONS]
    assert backend.generate(conversations, GREEDY) == one_by_one
    assert all(one_by_one), "the tiny model should say something in 12 tokens"
    assert len(set(one_by_one)) > 1


def test_answers_keep_their_order_across_batches(backend, one_by_one):
    reordered = [QUESTIONS[i] for i in (4, 0, 3, 1, 2)]
    answers = backend.generate([ask(q) for q in reordered], GREEDY)
    assert answers == [one_by_one[i] for i in (4, 0, 3, 1, 2)]


def test_a_stop_string_in_the_answer_cuts_it(backend, one_by_one):
    text = one_by_one[0]
    stop = text[3:6]
    expected = text[: text.find(stop)]
    params = GREEDY.model_copy(update={"stop": [stop]})
    assert backend.generate([ask(QUESTIONS[0])], params) == [expected]
    assert "".join(backend.stream(ask(QUESTIONS[0]), params)) == expected


def test_the_config_generation_is_the_default(backend):
    assert backend.generation == RunConfig().generation
    short = backend.generate([ask("hi")], GenerationConfig(max_new_tokens=2))[0]
    assert len(backend.tokenizer.encode(short, add_special_tokens=False)) <= 2


@pytest.mark.parametrize("index", range(len(QUESTIONS)))
def test_streamed_pieces_join_to_the_generated_text(backend, one_by_one, index):
    pieces = list(backend.stream(ask(QUESTIONS[index]), GREEDY))
    assert "".join(pieces) == one_by_one[index]
    assert len(pieces) > 1 or len(one_by_one[index]) <= 1


def test_a_stream_can_be_left_early(backend):
    stream = backend.stream(ask("LoRA"), GenerationConfig(max_new_tokens=200))
    first = next(stream)
    stream.close()  # ends generation and joins the thread
    assert first


def test_a_conversation_must_await_an_answer(backend):
    done = Conversation((Message("user", "hi"), Message("assistant", "hello")), origin="x:1")
    with pytest.raises(RecordError, match="x:1: messages: must end with a user or tool turn"):
        backend.generate([done], GREEDY)


def test_sampling_runs(backend):
    params = GenerationConfig(max_new_tokens=4, temperature=0.8, top_p=0.9, top_k=20)
    assert len(backend.generate([ask("hi"), ask("LoRA")], params)) == 2


# --- adapters ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory):
    """A LoRA on every linear layer, its B matrices random so that it changes the output."""
    return random_lora(RunConfig().model.path, tmp_path_factory.mktemp("adapter"), r=8,
                       alpha=32, std=0.5)


@pytest.mark.slow
def test_an_adapter_changes_the_answer_and_the_base_comes_back(session, adapter_dir, one_by_one):
    options = {"device": "cpu", "adapters": {"random": str(adapter_dir)}}
    backend = session.build("backends", {"name": "transformers", **options})
    backend.load(RunConfig(), session)
    conversations = [ask(q) for q in QUESTIONS]
    assert backend.adapter is None
    assert backend.generate(conversations, GREEDY) == one_by_one
    backend.use_adapter("random")
    adapted = backend.generate(conversations, GREEDY)
    assert adapted != one_by_one
    assert "".join(backend.stream(conversations[0], GREEDY)) == adapted[0]
    backend.use_adapter(None)
    assert backend.generate(conversations, GREEDY) == one_by_one
    with pytest.raises(ConfigError, match="no adapter 'other'.*random"):
        backend.use_adapter("other")


def test_model_adapter_is_loaded_and_active(session, adapter_dir, one_by_one):
    config = RunConfig.model_validate({"model": {"adapter": str(adapter_dir)}})
    backend = session.build("backends", {"name": "transformers", "device": "cpu"})
    backend.load(config, session)
    assert backend.adapter == "default"
    answer = backend.generate([ask(QUESTIONS[0])], GREEDY)[0]
    assert answer != one_by_one[0]
    backend.use_adapter(None)
    assert backend.generate([ask(QUESTIONS[0])], GREEDY)[0] == one_by_one[0]


def test_a_missing_adapter_is_a_config_error(session, tmp_path):
    config = RunConfig.model_validate({"model": {"adapter": str(tmp_path / "nothing")}})
    backend = session.build("backends", "transformers")
    with pytest.raises(ConfigError, match="model.adapter: cannot load the adapter"):
        backend.load(config, session)


# --- the text helpers -------------------------------------------------------------------


def test_cut_at_stop_takes_the_earliest_stop():
    assert cut_at_stop("a<|im_end|>b\nUser:", ["\nUser:", "<|im_end|>"]) == "a"
    assert cut_at_stop("no stop here", ["<|im_end|>", ""]) == "no stop here"
    assert cut_at_stop("<|im_end|>", ["<|im_end|>"]) == ""


def test_until_stop_token_drops_the_stop_and_what_follows():
    assert until_stop_token([5, 6, 2, 0, 0], [2, 0]) == [5, 6]
    assert until_stop_token([5, 6], [2]) == [5, 6]


@pytest.mark.parametrize(
    "text",
    ["Paris.<|im_end|>junk", "a\nUser: b", "<|im_<|im_end|>", "no stops at all", "<|im_", "\nUs"],
)
def test_stop_cutter_joins_to_cut_at_stop_however_the_text_is_split(text):
    stops = ["<|im_end|>", "\nUser:"]
    for cuts in itertools.combinations(range(1, len(text)), min(3, len(text) - 1)):
        bounds = [0, *cuts, len(text)]
        cutter = StopCutter(stops)
        shown = [cutter.feed(text[a:b]) for a, b in itertools.pairwise(bounds)]
        assert "".join(shown) + cutter.flush() == cut_at_stop(text, stops), cuts


def test_incremental_decoding_joins_to_the_whole_decode(backend):
    tokenizer = backend.tokenizer
    text = "Low-rank adaptation 低秩适配 — ok ✓\n  spaced"
    ids = tokenizer.encode(text, add_special_tokens=False)
    decoder = IncrementalDecoder(tokenizer)
    pieces = [decoder.add(token) for token in ids] + [decoder.flush()]
    assert "".join(pieces) == text
    assert not any("\ufffd" in piece for piece in pieces)


# --- a backend from a plugin ------------------------------------------------------------


class EchoBackend:
    """Answers with the last user message."""

    batch_size = 2

    def load(self, config, session):
        self.loaded = config.model.path

    def generate(self, conversations, params=None):
        return [c.messages[-1].content for c in conversations]

    def stream(self, conversation, params=None):
        yield from self.generate([conversation])[0].split()

    def use_adapter(self, name):
        raise ConfigError("echo has no adapters")


class EchoPlugin:
    @hookimpl
    def register_backends(self, register):
        register("echo", EchoBackend)


def test_a_plugin_backend_is_built_and_loaded_by_name():
    from plugtune.inference import load_backend

    session = Session(plugins=[EchoPlugin()])
    config = RunConfig.model_validate({"backend": "echo"})
    backend = load_backend(config, session)
    assert isinstance(backend, Backend)
    assert backend.loaded == "tiny://qwen2"
    assert backend.generate([ask("same")]) == ["same"]


def test_answers_carry_the_number_of_generated_tokens(backend):
    conversation = Conversation((Message("user", "Count the apples."),))
    params = GenerationConfig(max_new_tokens=7)
    model, tokenizer = backend.model, backend.tokenizer
    [answer] = backend.generate([conversation], params)
    prompt = backend.template.render(conversation, add_generation_prompt=True)
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    generated = model.generate(**ids, max_new_tokens=7, do_sample=False,
                               eos_token_id=backend.stop_ids)[0, ids["input_ids"].shape[1]:]
    # the random tiny model runs to the limit without a stop token
    assert answer.tokens == len([t for t in generated.tolist() if t not in backend.stop_ids]) == 7
    pieces = list(backend.stream(conversation, params))
    assert joined(pieces) == answer and joined(pieces).tokens == answer.tokens
