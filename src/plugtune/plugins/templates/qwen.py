"""Qwen2.5: ChatML with a default system prompt and Hermes-style tool calls.

Written from Qwen2.5-7B-Instruct's tokenizer_config template. Tool specs go into the
system turn as JSON lines inside ``<tools>``; a call is ``<tool_call>{"name", "arguments"}
</tool_call>`` in the assistant turn; consecutive tool results share one user turn, each
in ``<tool_response>``. Qwen3 reuses these pieces (:mod:`.qwen3`).

A reply is read back with :class:`~plugtune.sdk.templates.tool_calls.TaggedCalls`: each
``<tool_call>`` block a call, the text around them content.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar

from plugtune.core.records import Conversation, Message, ToolCall
from plugtune.sdk.templates.family import SegmentBuilder
from plugtune.sdk.templates.replies import ReplyFormat
from plugtune.sdk.templates.slots import CHATML_SLOTS, Slots, SlotTemplate
from plugtune.sdk.templates.tool_calls import TaggedCalls

TOOLS_INTRO = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
)
TOOLS_OUTRO = (
    "\n</tools>\n\nFor each function call, return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n'
)


def to_json(value: Any, indent: int | None = None) -> str:
    """Jinja's ``tojson`` as transformers defines it (``json.dumps``, non-ASCII kept)."""
    return json.dumps(value, ensure_ascii=False, indent=indent, default=_plain)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def tool_specs(tools: Sequence[Mapping[str, Any]]) -> str:
    """The ``<tools>`` block: one JSON line per tool spec, as given."""
    return TOOLS_INTRO + "".join("\n" + to_json(tool) for tool in tools) + TOOLS_OUTRO


def tool_calls(content: str, calls: Sequence[ToolCall], *, raw_strings: bool) -> str:
    """The calls after an answer's text, each on its own line. Qwen2.5 JSON-encodes
    string arguments a second time; Qwen3 (``raw_strings``) writes them as they are."""
    pieces = []
    for number, call in enumerate(calls):
        arguments = call.arguments
        encoded = arguments if raw_strings and isinstance(arguments, str) else to_json(arguments)
        separator = "\n" if content or number else ""
        pieces.append(f'{separator}<tool_call>\n{{"name": "{call.name}", "arguments": {encoded}}}')
        pieces.append("\n</tool_call>")
    return "".join(pieces)


def render_tool_result(out: SegmentBuilder, index: int, conversation: Conversation) -> None:
    """A tool result; a run of them shares one user turn."""
    messages = conversation.messages
    text = "\n<tool_response>\n" + messages[index].content + "\n</tool_response>"
    if index == 0 or messages[index - 1].role != "tool":
        text = "<|im_start|>user" + text
    if index == len(messages) - 1 or messages[index + 1].role != "tool":
        text += "<|im_end|>\n"
    out.add(text, index)


class QwenTemplate(SlotTemplate):
    """Qwen2.5-Instruct: ChatML with Qwen's default system prompt, and tools.

    Without a system message it writes "You are Qwen, created by Alibaba Cloud. You are
    a helpful assistant."
    """

    name = "qwen"
    stop_strings = ("<|im_end|>", "<|endoftext|>")
    eos_token = "<|im_end|>"
    supports_tools = True
    reply_format = ReplyFormat(calls=TaggedCalls())
    slots: ClassVar[Slots] = replace(
        CHATML_SLOTS,
        default_system="You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
    )
    jinja_digests = frozenset(
        {
            # Qwen2.5-Instruct (7B; 0.5B without the final newline)
            "55b2f4a26ac9ee719330a61a0c39d9e538b0e9322212f048326318cff4f8674a",
        }
    )

    def render_system(self, out: SegmentBuilder, conversation: Conversation) -> None:
        if not conversation.tools:
            super().render_system(out, conversation)
            return
        system = conversation.system
        text = system if system is not None else self.slots.default_system or ""
        out.add(
            "<|im_start|>system\n" + text + "\n\n" + tool_specs(conversation.tools),
            0 if system is not None else -1,
        )

    def answer(self, index: int, message: Message, conversation: Conversation) -> str:
        return message.content + tool_calls(message.content, message.tool_calls, raw_strings=False)

    def render_tool(
        self, out: SegmentBuilder, index: int, message: Message, conversation: Conversation
    ) -> None:
        render_tool_result(out, index, conversation)


class Qwen2Template(QwenTemplate):
    """Qwen2.5 base / Qwen2: as qwen, default system "You are a helpful assistant."

    The template of the Qwen2.5 base models (Qwen/Qwen2.5-0.5B@060db649), Qwen2.5-1M and
    ``tiny://qwen2``. Without tools it renders like Qwen2-Instruct's."""

    name = "qwen2"
    slots = replace(CHATML_SLOTS, default_system="You are a helpful assistant.")
    jinja_digests = frozenset(
        {
            # Qwen2.5 base (Qwen/Qwen2.5-0.5B@060db649), Qwen2.5-1M
            "4039eed0f28b7aaa337e70c76cfedba3271ee32505835a095a8c92e536b3c355",
            # tiny://qwen2 (the same, restructured, with generation markers)
            "a885f779bc090c2c4f4fa0ec81b86fe455b9fce3c5c6dd8f32b0f4ebc13c4dc0",
        }
    )
