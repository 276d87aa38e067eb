"""Tool calls and reasoning through the official ``openai`` client, whole and streamed,
on the real qwen3, llama3.1 and deepseek-r1 templates.

The tiny models cannot learn to call tools, so a scripted backend stands in for the
model: it renders each request's prompt with the template the server hands it (and
keeps it, to check what the model would have seen) and replies with fixed text, streamed
a few characters at a time so that tags and JSON are cut anywhere. Everything around
the model is the server's own: the request read into a conversation (tools, earlier
calls, tool results, ``chat_template_kwargs``), the prompt, and the reply read back into
``tool_calls`` and ``reasoning_content`` by the template.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import openai
import pytest
from fastapi.testclient import TestClient

from plugtune import Session
from plugtune.core.config import GenerationConfig
from plugtune.inference.server import create_app
from plugtune.sdk.backends.decoding import Answer
from plugtune.sdk.backends.requests import FINISHED, GenerationRequest

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
QWEN3_CALL = ('<think>\nThe user wants the weather; I will call the tool.\n</think>\n\n'
              '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n'
              '</tool_call>')
QWEN3_TWO_CALLS = ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n'
                   '</tool_call>\n<tool_call>\n{"name": "get_weather", "arguments": '
                   '{"city": "Rome"}}\n</tool_call>')


class ScriptedBackend:
    """Answers each request with the next scripted reply; keeps each rendered prompt."""

    def __init__(self, template: Any, replies: Sequence[str], piece_chars: int = 3) -> None:
        self.template, self.replies, self.piece_chars = template, list(replies), piece_chars
        self.prompts: list[str] = []

    def answer_requests(self, requests: Sequence[GenerationRequest],
                        params: GenerationConfig | None = None) -> list[Answer]:
        answers = []
        for request in requests:
            template = request.template or self.template
            self.prompts.append(template.render(request.conversation,
                                                add_generation_prompt=True))
            text = self.replies.pop(0)
            pieces = [text[start:start + self.piece_chars]
                      for start in range(0, len(text), self.piece_chars)]
            for piece in pieces if request.on_piece else ():
                request.on_piece(Answer(piece, 1))
            answers.append(Answer(text, len(pieces), FINISHED))
        return answers


def client_for(template: str | dict[str, Any], *replies: str) -> tuple[Any, ScriptedBackend]:
    backend = ScriptedBackend(Session().build("templates", template), replies)
    http = TestClient(create_app(backend, "scripted"))
    return openai.OpenAI(base_url="http://testserver/v1", api_key="x", http_client=http), backend


def streamed(client: Any, **request: Any) -> tuple[str, str, list[dict[str, Any]], str]:
    """A streamed answer put back together as the client sees it: content, reasoning,
    the tool calls (from their deltas) and the finish reason."""
    content, reasoning, calls, finish = "", "", {}, ""
    for chunk in client.chat.completions.create(model="scripted", stream=True, **request):
        choice = chunk.choices[0]
        delta = choice.delta
        content += delta.content or ""
        reasoning += getattr(delta, "reasoning_content", None) or ""
        for call in delta.tool_calls or ():
            entry = calls.setdefault(call.index, {"id": None, "name": "", "arguments": ""})
            entry["id"] = call.id or entry["id"]
            entry["name"] += (call.function and call.function.name) or ""
            entry["arguments"] += (call.function and call.function.arguments) or ""
        finish = choice.finish_reason or finish
    return content, reasoning, [calls[index] for index in sorted(calls)], finish


def test_a_tool_call_and_its_reasoning_come_back_whole():
    client, backend = client_for("qwen3", QWEN3_CALL)
    response = client.chat.completions.create(model="scripted", messages=ASK, tools=[WEATHER])
    [choice] = response.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.reasoning_content == "The user wants the weather; I will call the tool."
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.id
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    # The model saw the tool's schema in the system turn, as Qwen3's template writes it.
    assert "<tools>\n" + json.dumps(WEATHER) + "\n</tools>" in backend.prompts[0]


def test_tool_call_deltas_and_reasoning_stream_as_openai_sends_them():
    client, _ = client_for("qwen3", QWEN3_CALL, QWEN3_TWO_CALLS)
    content, reasoning, calls, finish = streamed(client, messages=ASK, tools=[WEATHER])
    assert (content, finish) == ("", "tool_calls")
    assert reasoning == "The user wants the weather; I will call the tool."
    [call] = calls
    assert call["id"] and call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"city": "Paris"}

    _, _, two, finish = streamed(client, messages=ASK, tools=[WEATHER])
    assert [json.loads(call["arguments"])["city"] for call in two] == ["Paris", "Rome"]
    assert len({call["id"] for call in two}) == 2 and finish == "tool_calls"


def test_a_tool_result_round_trip():
    client, backend = client_for("qwen3", QWEN3_CALL, "It is 21 °C and sunny in Paris.")
    first = client.chat.completions.create(model="scripted", messages=ASK, tools=[WEATHER])
    call = first.choices[0].message.tool_calls[0]
    history = [*ASK, first.choices[0].message.model_dump(exclude_none=True),
               {"role": "tool", "tool_call_id": call.id,
                "content": json.dumps({"celsius": 21, "sky": "sunny"})}]
    second = client.chat.completions.create(model="scripted", messages=history,
                                            tools=[WEATHER])
    assert second.choices[0].message.content == "It is 21 °C and sunny in Paris."
    assert second.choices[0].message.tool_calls is None
    assert second.choices[0].finish_reason == "stop"
    prompt = backend.prompts[1]
    # The call went back as the assistant's turn (its reasoning kept: Qwen3 keeps it in
    # the turns after the last user message), the result as Qwen3's tool response.
    assert ('<|im_start|>assistant\n<think>\nThe user wants the weather; I will call the '
            'tool.\n</think>\n\n<tool_call>\n{"name": "get_weather", "arguments": '
            '{"city": "Paris"}}\n</tool_call><|im_end|>') in prompt
    assert ('<|im_start|>user\n<tool_response>\n{"celsius": 21, "sky": "sunny"}\n'
            '</tool_response><|im_end|>\n<|im_start|>assistant\n') in prompt


def test_enable_thinking_travels_in_chat_template_kwargs():
    client, backend = client_for("qwen3", "Paris is sunny.", "Paris is sunny.")
    plain = client.chat.completions.create(
        model="scripted", messages=ASK, extra_body={"chat_template_kwargs":
                                                    {"enable_thinking": False}})
    assert backend.prompts[0].endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert plain.choices[0].message.content == "Paris is sunny."
    assert getattr(plain.choices[0].message, "reasoning_content", None) is None
    client.chat.completions.create(model="scripted", messages=ASK)
    assert backend.prompts[1].endswith("<|im_start|>assistant\n")  # the run's default
    with pytest.raises(openai.BadRequestError, match="enable_thinkng"):
        client.chat.completions.create(model="scripted", messages=ASK, extra_body={
            "chat_template_kwargs": {"enable_thinkng": False}})


def test_tool_choice_none_hides_the_tools_and_other_choices_are_refused():
    client, backend = client_for("qwen3", "I cannot look that up.")
    client.chat.completions.create(model="scripted", messages=ASK, tools=[WEATHER],
                                   tool_choice="none")
    assert "<tools>" not in backend.prompts[0]
    with pytest.raises(openai.BadRequestError, match="tool_choice"):
        client.chat.completions.create(model="scripted", messages=ASK, tools=[WEATHER],
                                       tool_choice="required")


def test_llama31_reads_its_json_call_and_deepseek_r1_its_reasoning():
    client, _ = client_for("llama3.1", '{"name": "get_weather", "parameters": '
                                       '{"city": "Paris"}}')
    [call] = client.chat.completions.create(model="scripted", messages=ASK,
                                            tools=[WEATHER]).choices[0].message.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "get_weather", {"city": "Paris"})

    reply = "<think>\nParis is in France.\n</think>\n\nIt is the capital."
    client, _ = client_for("deepseek-r1", reply, reply)
    message = client.chat.completions.create(model="scripted", messages=ASK).choices[0].message
    assert (message.reasoning_content, message.content) == ("Paris is in France.",
                                                            "It is the capital.")
    content, reasoning, calls, finish = streamed(client, messages=ASK)
    assert (reasoning, content, calls, finish) == ("Paris is in France.",
                                                   "It is the capital.", [], "stop")
