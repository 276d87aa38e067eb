"""The loss-mask check over every template, and what templates refuse."""

from __future__ import annotations

import pytest

from plugtune import ConfigError
from plugtune.core.interfaces import Segment
from plugtune.core.records import Conversation, Message, ToolCall
from plugtune.sdk.templates.family import TemplateError
from plugtune.sdk.testing import check_chat_template
from tests.conftest import needs_fixtures
from tests.template_cases import (
    DEEPSEEK_R1,
    GEMMA2,
    LLAMA31,
    PHI3,
    SESSION,
    TEMPLATES,
    TOOLS,
    upstream_text,
)

# --- the loss-mask check, over every registered template -------------------------------


@pytest.mark.parametrize("name", TEMPLATES.names())
def test_every_registered_template_passes_the_check(name):
    check_chat_template(SESSION.build("templates", name))


@pytest.mark.parametrize(
    "options",
    [
        {"name": "qwen3", "enable_thinking": False},
        {"name": "llama3.1", "date_string": "1 Jan 2025"},
        *(pytest.param({"name": "hf", "chat_template": upstream_text(sha), **tokens},
                       marks=needs_fixtures)
          for sha, tokens in ((LLAMA31, {"bos_token": "<s>"}), (GEMMA2, {"eos_token": "<eos>"}),
                              (PHI3, {}), (DEEPSEEK_R1, {}))),
    ],
    ids=lambda options: "-".join(str(v)[:12] for v in options.values()),
)
def test_the_check_passes_with_options(options):
    check_chat_template(SESSION.build("templates", options))


class BrokenChatML:
    """A ChatML test double with one bug chosen by ``bug``."""

    stop_strings = ("<|im_end|>",)

    def __init__(self, bug: str) -> None:
        self.name, self.bug = f"broken-{bug}", bug

    def segments(self, conversation, *, add_generation_prompt=False):
        pieces = []
        for index, message in enumerate(conversation.messages):
            answer = message.role == "assistant"
            header = f"<|im_start|>{message.role}\n"
            body = f"{message.content}<|im_end|>"
            if answer and self.bug == "eos-untrained":
                pieces += [Segment(header, False, index), Segment(message.content, True, index)]
                pieces.append(Segment("<|im_end|>", False, index))
            elif answer and self.bug == "header-trained":
                pieces.append(Segment(header + body, True, index))
            else:
                pieces += [Segment(header, False, index), Segment(body, answer, index)]
            pieces.append(Segment("\n", False, index))
        if add_generation_prompt:
            pieces.append(Segment("<|im_start|>assistant\n", self.bug == "prompt-trained"))
        return pieces

    def render(self, conversation, *, add_generation_prompt=False):
        text = "".join(s.text for s in self.segments(conversation))
        if add_generation_prompt:
            text += "<|im_start|>assistant\n"
        return text + (" " if self.bug == "render-differs" else "")


@pytest.mark.parametrize(
    ("bug", "message"),
    [
        ("eos-untrained", "never learn to stop"),
        ("header-trained", "trains its header"),
        ("prompt-trained", "not to an assistant message"),
        ("render-differs", "segments join to"),
    ],
)
def test_the_check_catches_broken_templates(bug, message):
    with pytest.raises(AssertionError, match=message):
        check_chat_template(BrokenChatML(bug))


# --- what templates refuse --------------------------------------------------------------

TOOL_CHAT = Conversation(
    (
        Message("user", "Weather?"),
        Message("assistant", "", (ToolCall("get_weather", {"city": "Paris"}),)),
        Message("tool", "21"),
    ),
    tools=TOOLS[:1],
    origin="data.jsonl:3",
)


@pytest.mark.parametrize(
    ("name", "conversation", "problem"),
    [
        ("gemma", Conversation((Message("system", "Be brief."), Message("user", "Hi"))), "system"),
        (
            "mistral",
            Conversation((Message("system", "Be brief."), Message("user", "Hi"))),
            "system",
        ),
        ("llama3", TOOL_CHAT, "cannot render tool"),
        ("mistral", TOOL_CHAT, "cannot render tool"),
        ("deepseek-r1", TOOL_CHAT, "cannot render tool"),
        ("gemma", Conversation((Message("user", "Hi"), Message("user", "again"))), "alternate"),
        (
            "llama3.1",
            Conversation(
                (Message("user", "Both?"), Message("assistant", "", (ToolCall("a"), ToolCall("b"))))
            ),
            "one tool call",
        ),
    ],
)
def test_templates_refuse_what_their_model_cannot_render(name, conversation, problem):
    with pytest.raises(TemplateError, match=problem):
        SESSION.build("templates", name).segments(conversation)


def test_errors_name_the_record():
    with pytest.raises(TemplateError, match=r"^data\.jsonl:3: template 'llama3'"):
        SESSION.build("templates", "llama3").render(TOOL_CHAT)


def test_option_typo_is_a_config_error_with_a_suggestion():
    with pytest.raises(ConfigError, match="did you mean 'enable_thinking'"):
        SESSION.build("templates", {"name": "qwen3", "enable_thinkng": False})
    with pytest.raises(ConfigError, match="enable_thinking: unknown key; known keys: default_sys"):
        SESSION.build("templates", {"name": "qwen", "enable_thinking": False})
    with pytest.raises(ConfigError, match="not both"):
        SESSION.build("templates", {"name": "hf", "chat_template": "x", "source": "y"})


