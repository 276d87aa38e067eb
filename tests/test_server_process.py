"""``plugtune serve`` as a real process, spoken to by the official ``openai`` client."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi")
openai = pytest.importorskip("openai")

from tests.serving import ServerProcess, serving  # noqa: E402

MODEL = "tiny-qwen2"
KEY = "test-key-123"
CONCURRENT = 12
BATCH_SIZE = 8


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    config = {"generation": {"max_new_tokens": 8},
              "backend": {"name": "transformers", "batch_size": BATCH_SIZE}}
    with serving(tmp_path_factory.mktemp("serve"), config, "--model-name", MODEL,
                 "--batch-window-ms", "50", env={"PLUGTUNE_API_KEY": KEY}) as running:
        running.url += "/v1"
        yield running


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key=KEY, max_retries=0, timeout=60)


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.mark.slow
def test_models_lists_the_served_model(client):
    assert [model.id for model in client.models.list()] == [MODEL]


@pytest.mark.slow
def test_a_chat_completion(client):
    completion = client.chat.completions.create(
        model=MODEL, messages=ask("Translate to Chinese: cat"), temperature=0, max_tokens=6)
    assert completion.object == "chat.completion" and completion.model == MODEL
    [choice] = completion.choices
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert completion.usage is not None
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0


@pytest.mark.slow
def test_a_streamed_answer_joins_to_the_whole_greedy_answer(client):
    messages = [{"role": "system", "content": "be brief"}, *ask("Tell me a story")]
    whole = client.chat.completions.create(model=MODEL, messages=messages, temperature=0)
    stream = client.chat.completions.create(model=MODEL, messages=messages, temperature=0,
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    pieces = [chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices]
    assert sum(bool(piece) for piece in pieces) > 1  # it came in pieces
    assert "".join(pieces) == whole.choices[0].message.content
    finishes = [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices]
    assert finishes[-1] in ("stop", "length") and not any(finishes[:-1])
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


@pytest.mark.slow
def test_a_wrong_api_key_is_refused(server):
    wrong = openai.OpenAI(base_url=server.url, api_key="not-the-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        wrong.chat.completions.create(model=MODEL, messages=ask("hi"))
    assert raised.value.status_code == 401
    assert "incorrect API key" in raised.value.message


@pytest.mark.parametrize(("fields", "words"), [
    ({"messages": []}, "messages: List should have at least 1 item"),
    ({"messages": ask("hi"), "temperature": -1}, "temperature"),
    ({"messages": ask("hi"), "n": 17}, "n: Input should be less than or equal to 16"),
])
@pytest.mark.slow
def test_a_bad_request_is_a_400_that_says_why(client, fields, words):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=MODEL, **fields)
    assert raised.value.status_code == 400
    assert words in raised.value.message


@pytest.mark.slow
def test_an_unknown_model_is_a_404(client):
    with pytest.raises(openai.NotFoundError, match="not served here"):
        client.chat.completions.create(model="gpt-4o", messages=ask("hi"))


@pytest.mark.slow
def test_concurrent_requests_all_succeed_in_fewer_batches(client, server):
    questions = [f"Describe item number {index} in a few words." for index in range(CONCURRENT)]
    before = len(server.batch_sizes())

    def answer(question: str) -> str:
        completion = client.chat.completions.create(model=MODEL, messages=ask(question),
                                                    temperature=0, max_tokens=8)
        return completion.choices[0].message.content or ""

    with ThreadPoolExecutor(CONCURRENT) as pool:
        answers = list(pool.map(answer, questions))
    assert all(answers)
    assert answers == [answer(question) for question in questions]  # same alone or batched
    sizes = server.batch_sizes()[before:]
    concurrent = sizes[: len(sizes) - CONCURRENT]  # the last ones answered one by one
    assert sum(concurrent) == CONCURRENT, server.output()
    assert len(concurrent) < CONCURRENT and max(concurrent) > 1, concurrent
    assert max(concurrent) <= BATCH_SIZE
