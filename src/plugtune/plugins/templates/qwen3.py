"""Qwen3's hybrid thinking template (Qwen3-0.6B; the same text ships with Qwen3-8B).

What it adds to Qwen2.5's format:

- reasoning comes from ``Message.reasoning`` or, failing that, from a ``<think>…</think>``
  prefix of the content, and is rendered in a ``<think>`` block only for answers after
  the last real user query (an earlier turn's reasoning is dropped, as upstream);
- the final answer always gets a ``<think>`` block, empty if there is no reasoning;
- no default system prompt; string tool-call arguments are written as they are.

``enable_thinking=False`` changes the generation prompt (it then ends with an empty
``<think>`` block, as upstream) and, to match, leaves an answer's empty ``<think>`` block
out of the loss: at inference the prompt writes it, so the model must not learn to.

A reply is read back as it is written: a leading ``<think>`` block is the reasoning (an
empty one is none), ``<tool_call>`` blocks are calls, the rest is content. The
generation prompt never opens the block itself, so a reply without one is all content.
"""

from __future__ import annotations

from plugtune.core.records import Conversation, Message
from plugtune.plugins.templates.qwen import QwenTemplate, tool_calls, tool_specs
from plugtune.sdk.templates.default_system import TemplateOptions
from plugtune.sdk.templates.family import SegmentBuilder
from plugtune.sdk.templates.replies import THINK, ReplyFormat
from plugtune.sdk.templates.slots import CHATML_SLOTS
from plugtune.sdk.templates.tool_calls import TaggedCalls

EMPTY_THINK = "<think>\n\n</think>\n\n"


class Qwen3Options(TemplateOptions):
    """Options of the ``qwen3`` template."""

    enable_thinking: bool = True


class Qwen3Template(QwenTemplate):
    """Qwen3 (hybrid thinking): ``<think>`` reasoning, tools, the enable_thinking switch."""

    name = "qwen3"
    slots = CHATML_SLOTS
    Options = Qwen3Options
    reply_format = ReplyFormat(think=THINK, calls=TaggedCalls())
    jinja_digests = frozenset(
        {
            # Qwen3-0.6B hybrid thinking
            "87a2728cb8dc9fe424d624542f6060ec05a1d285ebbec578bb078900e33396b5",
        }
    )

    def __init__(self, enable_thinking: bool = True, default_system: str | None = None) -> None:
        super().__init__(default_system)
        self.enable_thinking = enable_thinking

    def render_system(self, out: SegmentBuilder, conversation: Conversation) -> None:
        if not conversation.tools:
            super().render_system(out, conversation)
            return
        system = conversation.system
        head = "<|im_start|>system\n" + (system + "\n\n" if system is not None else "")
        out.add(head + tool_specs(conversation.tools), 0 if system is not None else -1)

    def render_assistant(
        self, out: SegmentBuilder, index: int, message: Message, conversation: Conversation
    ) -> None:
        content, reasoning = split_reasoning(message)
        out.add("<|im_start|>assistant\n", index)
        last = index == len(conversation.messages) - 1
        if index > last_query_index(conversation) and (last or reasoning):
            think = "<think>\n" + reasoning.strip("\n") + "\n</think>\n\n"
            out.add(think, index, trainable=self.enable_thinking or think != EMPTY_THINK)
            text = content.lstrip("\n")
        else:
            text = content
        calls = tool_calls(content, message.tool_calls, raw_strings=True)
        out.add(text + calls + "<|im_end|>", index, True)
        out.add("\n", index)

    def generation_prompt(self, conversation: Conversation) -> str:
        prompt = "<|im_start|>assistant\n"
        return prompt if self.enable_thinking else prompt + EMPTY_THINK


def split_reasoning(message: Message) -> tuple[str, str]:
    """An answer's content and reasoning, as the template reads them."""
    content = message.content
    if message.reasoning is not None:
        return content, message.reasoning
    if "</think>" not in content:
        return content, ""
    before, _, _ = content.partition("</think>")
    reasoning = before.rstrip("\n").split("<think>")[-1].lstrip("\n")
    return content.split("</think>")[-1].lstrip("\n"), reasoning


def last_query_index(conversation: Conversation) -> int:
    """The last user turn that is a real query, not tool output passed as a user turn."""
    messages = conversation.messages
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        text = message.content
        if message.role == "user" and not (
            text.startswith("<tool_response>") and text.endswith("</tool_response>")
        ):
            return index
    return len(messages) - 1
