"""Templates render exactly what each model's own Jinja template renders."""

from __future__ import annotations

from typing import Any

import pytest

from plugtune.core.records import Conversation, Message, ToolCall
from tests.conftest import needs_fixtures
from tests.template_cases import (
    GOLDENS,
    INTERNLM2_OLD,
    LLAMA3_INITIAL,
    MISTRAL_TOOLS,
    NOT_FOLLOWED,
    SESSION,
    UPSTREAM,
    VARIANTS,
    corpus_for,
    expected_rendering,
    prompt_settings,
    reference,
    special_tokens,
)

# Every test here compares with the upstream templates and goldens in ../shared.
pytestmark = needs_fixtures

# --- parity ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sha", "name", "options", "variables", "derive"),
    [pytest.param(*variant[1:], id=variant[0]) for variant in VARIANTS],
)
def test_renders_exactly_like_the_upstream_template(sha, name, options, variables, derive):
    template = SESSION.build("templates", {"name": name, **options})
    text = UPSTREAM[sha]["chat_template"]
    text = derive(text) if derive else text
    variables = {**special_tokens(template), **variables}
    checked = 0
    for number, conversation in enumerate(corpus_for(template, seed=sum(map(ord, name)))):
        for prompt in prompt_settings(conversation):
            expected = expected_rendering(template, text, conversation, prompt, variables)
            rendered = template.render(conversation, add_generation_prompt=prompt)
            assert rendered == expected, f"conversation {number}, generation prompt {prompt}"
            check_segments(template, conversation, prompt)
            checked += 1
    assert checked >= 40


def test_variants_no_template_follows_are_rendered_differently():
    """The variants left to ``hf`` really differ from the nearest built-in (else a
    built-in should claim them)."""
    nearest = {LLAMA3_INITIAL: "llama3", MISTRAL_TOOLS: "mistral", INTERNLM2_OLD: "internlm2"}
    conversation = Conversation((Message("user", "Hi"), Message("assistant", "Hello")))
    for sha, name in nearest.items():
        template = SESSION.build("templates", name)
        text = UPSTREAM[sha]["chat_template"]
        expected = reference(text, conversation, False, special_tokens(template))
        assert template.render(conversation) != expected, NOT_FOLLOWED[sha]


# --- goldens --------------------------------------------------------------------------

#: case_id -> (template, options); "hf" cases render the case's own template.
GOLDEN_TEMPLATES = {
    "hfjs_e2e:Qwen/Qwen2.5-7B-Instruct": ("qwen", {}),
    "hfjs_e2e:Qwen/Qwen3-0.6B": ("qwen3", {"enable_thinking": True}),
    "hfjs_e2e:meta-llama/Llama-3.1-8B-Instruct": ("llama3.1", {}),
    # The tool template mistral does not follow (see NOT_FOLLOWED): hf renders it.
    "hfjs_e2e:mistralai/Mistral-7B-Instruct-v0.3 (JSON Schema)": ("hf", {}),
    "hfjs_e2e:internlm/internlm2-chat-7b": ("internlm2", {}),
    "swift_jinja:THUDM ChatGLM3-6B": ("chatglm3", {}),
    # Rendered without a bos_token, which no Gemma tokenizer does: hf renders it as given,
    # and test_gemma_golden_differs_only_by_the_bos checks the gemma template.
    "swift_jinja:Google Gemma-2B-IT": ("hf", {}),
    "swift_jinja:Qwen Qwen2.5-0.5B-Instruct": ("qwen", {}),
    "llamafactory:test_gemma2_template": ("gemma", {}),
    "llamafactory:test_llama3_template": ("llama3", {}),
    "llamafactory:test_qwen2_5_template": ("qwen", {}),
    "llamafactory:test_qwen3_template[cot_messages=False]": ("qwen3", {}),
    "llamafactory:test_qwen3_template[cot_messages=True]": ("qwen3", {}),
    "vllm_pr3340:baichuan": ("baichuan2", {}),
}


def from_openai(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> Conversation:
    """A canonical conversation from OpenAI-shaped messages (as a loader would make it)."""
    converted = []
    for message in messages:
        calls = tuple(
            ToolCall(call["function"]["name"], call["function"]["arguments"], call.get("id"))
            for call in message.get("tool_calls") or ()
        )
        converted.append(
            Message(
                message["role"],
                message.get("content") or "",
                calls,
                reasoning=message.get("reasoning_content"),
                name=message.get("name"),
            )
        )
    return Conversation(tuple(converted), tools=tuple(tools or ()))


def golden_case(case: dict[str, Any]) -> tuple[Any, Conversation, bool]:
    kwargs = case["render_kwargs"]
    name, options = GOLDEN_TEMPLATES[case["case_id"]]
    if name == "hf":
        tokens = {key: kwargs[key] for key in ("bos_token", "eos_token") if key in kwargs}
        options = {"chat_template": case["chat_template"], **tokens}
    template = SESSION.build("templates", {"name": name, **options})
    conversation = from_openai(kwargs["messages"], kwargs.get("tools"))
    return template, conversation, kwargs.get("add_generation_prompt", False)


def test_every_golden_case_has_a_template():
    assert sorted(GOLDEN_TEMPLATES) == sorted(case["case_id"] for case in GOLDENS)


@pytest.mark.parametrize("case", GOLDENS, ids=[case["case_id"] for case in GOLDENS])
def test_reproduces_the_golden(case):
    template, conversation, prompt = golden_case(case)
    assert template.render(conversation, add_generation_prompt=prompt) == case["expected"]
    check_segments(template, conversation, prompt)


def test_gemma_golden_differs_only_by_the_bos():
    [case] = [case for case in GOLDENS if case["case_id"] == "swift_jinja:Google Gemma-2B-IT"]
    conversation = from_openai(case["render_kwargs"]["messages"], None)
    rendered = SESSION.build("templates", "gemma").render(conversation)
    assert rendered == "<bos>" + case["expected"]


SPLIT_CASES = [case for case in GOLDENS if "expected_answer_part" in case]


@pytest.mark.parametrize("case", SPLIT_CASES, ids=[case["case_id"] for case in SPLIT_CASES])
def test_prompt_and_answer_split_like_llamafactory(case):
    """LLaMA-Factory's prompt/answer split is ours: the answer starts at the last
    assistant message's first trainable piece. Within the answer, LLaMA-Factory also
    trains the newline after the end-of-turn token; we do not (it is never generated)."""
    template, conversation, prompt = golden_case(case)
    segments = template.segments(conversation, add_generation_prompt=prompt)
    last = len(conversation.messages) - 1
    first = next(i for i, s in enumerate(segments) if s.trainable and s.message == last)
    assert "".join(s.text for s in segments[:first]) == case["expected_prompt_part"]
    assert "".join(s.text for s in segments[first:]) == case["expected_answer_part"]
    trained = "".join(s.text for s in segments[first:] if s.trainable)
    assert trained == case["expected_answer_part"].removesuffix("\n")


def check_segments(template: Any, conversation: Conversation, prompt: bool) -> None:
    """Trainable pieces belong to assistant messages and end with a stop string."""
    segments = template.segments(conversation, add_generation_prompt=prompt)
    assert "".join(s.text for s in segments) == template.render(
        conversation, add_generation_prompt=prompt
    )
    for index, message in enumerate(conversation.messages):
        trained = [s.text for s in segments if s.trainable and s.message == index]
        if message.role == "assistant":
            assert trained and trained[-1].endswith(template.stop_strings), (index, trained)
        else:
            assert not trained, (index, trained)
    assert all(s.message >= 0 for s in segments if s.trainable)


