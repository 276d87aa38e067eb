"""The run's tools at inference, played as in training (:mod:`plugtune.agents`):
``predict`` answers each record as an episode, ``chat`` shows the calls, and ``serve``
runs them for a request that brings no tools of its own.

A scripted backend stands in for a model that has learnt the calculator (the tiny models
cannot): it calls the tool for a question and answers with what the tool returned.
Everything around it is plugtune's own: the prompt with the tools, the calls read back
by the template, the tool run, the turns batched across episodes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from plugtune.agents.environments import Episodes
from plugtune.core.config import AgentConfig
from plugtune.core.records import Conversation
from plugtune.core.session import Session
from plugtune.inference.server import create_app
from plugtune.sdk.backends.decoding import Answer
from plugtune.sdk.backends.requests import FINISHED

SESSION = Session()
QWEN2 = SESSION.build("templates", "qwen2")
CALCULATOR = AgentConfig(environment="calculator")


def call(expression: str) -> str:
    return ('<tool_call>\n{"name": "calculate", "arguments": {"expression": "'
            + expression + '"}}\n</tool_call>')


class ScriptedBackend:
    """A backend whose replies are scripted by the question: a call first, then, once
    the tool has answered, the number the tool returned. Keeps each batch's size and
    each prompt it was asked."""

    batch_size = 4
    template = QWEN2

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.prompts: list[str] = []

    def generate(self, conversations: list[Conversation], params: Any = None) -> list[Answer]:
        self.batches.append(len(conversations))
        replies = []
        for conversation in conversations:
            self.prompts.append(QWEN2.render(conversation, add_generation_prompt=True))
            last = conversation.messages[-1]
            if last.role == "tool":
                replies.append(Answer(last.content, 1, FINISHED))
            else:
                expression = last.content.removeprefix("What is ").removesuffix("?")
                replies.append(Answer(call(expression), 1, FINISHED))
        return replies


# predict and chat


def test_predict_answers_each_record_as_an_episode(tmp_path: Path) -> None:
    from plugtune import load_config
    from plugtune.inference.predict import predict
    from tests.conftest import write_jsonl

    data = write_jsonl(tmp_path / "q.jsonl", [
        {"prompt": f"What is {a} * {b}?", "answer": str(a * b)} for a, b in [(347, 28), (12, 5)]])
    config = load_config(None, [f"data.test=[{data}]", "evaluation.metrics=[exact_match]",
                                "agent={environment: calculator}"])
    backend = ScriptedBackend()
    result = predict(config, SESSION, backend=backend, out=tmp_path / "p.jsonl")
    assert result.metrics["exact_match"] == 1.0
    assert backend.batches == [2, 2]  # both episodes' turns batched together
    lines = [json.loads(x) for x in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [x["predict"] for x in lines] == ["9716", "60"]
    assert lines[0]["episode"]["calls"] == [{"name": "calculate", "arguments": {
        "expression": "347 * 28"}, "result": "9716"}]


def test_chat_shows_the_calls_and_keeps_them_in_the_history() -> None:
    from plugtune.inference.chat import ChatSession

    episodes = Episodes(CALCULATOR, SESSION, QWEN2)
    chat = ChatSession(ScriptedBackend(), episodes=episodes)
    written: list[str] = []
    assert chat.reply("What is 347 * 28?", written.append) == "9716"
    assert "".join(written) == '[calculate({"expression": "347 * 28"}) -> 9716]\n9716'
    assert [m.role for m in chat.history] == ["user", "assistant", "tool", "assistant"]


# serve: the server runs the run's tools for a request without its own


def served(backend: ScriptedBackend, agent: AgentConfig | None = CALCULATOR) -> TestClient:
    episodes = None if agent is None else Episodes(agent, SESSION, QWEN2)
    return TestClient(create_app(backend, "scripted", episodes=episodes))


def ask(client: TestClient, question: str = "What is 347 * 28?", **fields: Any) -> Any:
    return client.post("/v1/chat/completions", json={
        "messages": [{"role": "user", "content": question}], **fields})


def test_serve_plays_a_request_without_tools_as_an_episode() -> None:
    backend = ScriptedBackend()
    response = ask(served(backend))
    assert response.status_code == 200, response.text
    choice = response.json()["choices"][0]
    assert choice["message"]["content"] == "9716"
    assert choice["finish_reason"] == "stop"
    assert choice["episode"]["calls"] == [{"name": "calculate", "arguments": {
        "expression": "347 * 28"}, "result": "9716"}]
    assert choice["episode"]["stopped"] == "answer"
    # The model was offered the calculator, and read its result in the second turn.
    assert '"name": "calculate"' in backend.prompts[0]
    assert "<tool_response>\n9716\n</tool_response>" in backend.prompts[1]


def test_serve_batches_the_choices_turns_and_streams_the_final_replies() -> None:
    backend = ScriptedBackend()
    client = served(backend)
    whole = ask(client, n=2).json()
    assert [c["message"]["content"] for c in whole["choices"]] == ["9716", "9716"]
    assert backend.batches == [2, 2]
    with client.stream("POST", "/v1/chat/completions", json={
            "messages": [{"role": "user", "content": "What is 12 * 5?"}], "stream": True,
            "stream_options": {"include_usage": True}}) as stream:
        events = [json.loads(line.removeprefix("data: ")) for line in stream.iter_lines()
                  if line.startswith("data: {")]
    content = "".join(c["delta"].get("content") or "" for e in events for c in e["choices"])
    assert content == "60"
    assert [c["finish_reason"] for e in events for c in e["choices"] if c["finish_reason"]] \
        == ["stop"]


def test_serve_leaves_a_clients_own_tools_to_the_client() -> None:
    """A request with tools is OpenAI's function calling: the call comes back, unrun."""
    weather = {"type": "function", "function": {"name": "calculate", "parameters": {
        "type": "object", "properties": {"expression": {"type": "string"}}}}}
    response = ask(served(ScriptedBackend()), tools=[weather])
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert "episode" not in choice
    assert json.loads(choice["message"]["tool_calls"][0]["function"]["arguments"]) == {
        "expression": "347 * 28"}


def test_serve_without_an_agent_section_runs_no_tools() -> None:
    backend = ScriptedBackend()
    choice = ask(served(backend, agent=None)).json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"  # read back, never run
    assert "episode" not in choice
    assert backend.batches == [1]
    assert "calculate" not in backend.prompts[0]  # and no tools offered


def test_serve_refuses_what_an_episode_cannot_give_with_a_4xx() -> None:
    client = served(ScriptedBackend())
    unknown = ask(client, metadata={"environment": "no_such_environment"})
    assert unknown.status_code == 400
    assert "no_such_environment" in unknown.json()["error"]["message"]
    logprobs = ask(client, logprobs=True)
    assert logprobs.status_code == 400
    assert logprobs.json()["error"]["param"] == "logprobs"
