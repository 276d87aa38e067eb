"""Declarative chat formats: a family is a handful of slot strings, rendered by one builder.

Slots are written from each model's Jinja source (not copied from another tool), with
``{content}`` standing for the message text. The assistant turn is split in three so the
loss mask falls out of the declaration: ``assistant_header`` (what the generation prompt
also writes, not trained), ``assistant`` (the answer and its end-of-turn token, trained)
and ``assistant_suffix`` (the newline after the end-of-turn token, not trained).

Families whose template needs logic (tools, thinking) subclass :class:`SlotTemplate`
and override one ``render_*`` method; everything else stays declarative.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from plugtune.core.interfaces import Segment
from plugtune.core.records import Conversation, Message
from plugtune.sdk.templates.family import SegmentBuilder, TemplateBase
from plugtune.sdk.templates.replies import ReplyFormat


@dataclass(frozen=True)
class Slots:
    """One family's format. ``{content}`` is replaced by the message text."""

    prefix: str = ""  # once, before the first message: bos, "[gMASK]sop"
    system: str = "{content}"
    default_system: str | None = None  # rendered when the conversation has no system
    user: str = "{content}"
    assistant_header: str = ""
    assistant: str = "{content}"
    assistant_suffix: str = ""
    generation_prompt: str = ""
    closing: str = ""  # after the last message when no generation prompt is asked for
    trim: tuple[str, ...] = ()  # roles whose content the template strips (``| trim``)


# ChatML, the format Qwen, InternLM, Yi and many fine-tunes build on.
CHATML_SLOTS = Slots(
    system="<|im_start|>system\n{content}<|im_end|>\n",
    user="<|im_start|>user\n{content}<|im_end|>\n",
    assistant_header="<|im_start|>assistant\n",
    assistant="{content}<|im_end|>",
    assistant_suffix="\n",
    generation_prompt="<|im_start|>assistant\n",
)


def fill(slot: str, content: str) -> str:
    """The slot with its ``{content}`` placeholder replaced (braces elsewhere kept)."""
    return slot.replace("{content}", content, 1)


class SlotTemplate(TemplateBase):
    """Renders any family declared as :class:`Slots`; subclasses override what differs."""

    slots: ClassVar[Slots]

    def segments(
        self, conversation: Conversation, *, add_generation_prompt: bool = False
    ) -> list[Segment]:
        given = self.default_system_segments(conversation,
                                             add_generation_prompt=add_generation_prompt)
        if given is not None:
            return given
        self.check(conversation)
        out = self.new_builder()
        messages = conversation.messages
        if messages:
            out.add(self.slots.prefix)
        self.render_system(out, conversation)
        for index, message in enumerate(messages):
            role = message.role
            if role == "user":
                self.render_user(out, index, message, conversation)
            elif role == "assistant":
                self.render_assistant(out, index, message, conversation)
            elif role == "tool":
                self.render_tool(out, index, message, conversation)
        if self.final_answer_stop:
            out.close_answer(self.final_answer_stop)
        if add_generation_prompt:
            out.add(self.generation_prompt(conversation))
        else:
            out.add(self.slots.closing)
        return out.build()

    def jinja(self) -> str | None:
        """The Jinja chat template written from the slots (None when a subclass
        overrides how messages render: see :mod:`.slots_jinja`)."""
        from plugtune.sdk.templates.default_system import default_system_jinja
        from plugtune.sdk.templates.slots_jinja import slots_jinja

        source = slots_jinja(self, SlotTemplate)
        if source is None or self.default_system is None:
            return source
        return default_system_jinja(self.default_system) + source

    def effective_reply_format(self) -> ReplyFormat:
        """The declared format, reading past what the ``assistant`` slot writes before
        the content (Mistral's space, ChatGLM3's ``\\n ``): the model generates it, but it
        is the template's, not the answer's."""
        declared = super().effective_reply_format()
        lead = self.slots.assistant.partition("{content}")[0]
        return replace(declared, lead=lead) if lead and not declared.lead else declared

    def content(self, message: Message) -> str:
        text = message.content
        return text.strip() if message.role in self.slots.trim else text

    def render_system(self, out: SegmentBuilder, conversation: Conversation) -> None:
        messages = conversation.messages
        if messages and messages[0].role == "system":
            out.add(fill(self.slots.system, self.content(messages[0])), 0)
        elif self.slots.default_system is not None:
            out.add(fill(self.slots.system, self.slots.default_system))

    def render_user(
        self, out: SegmentBuilder, index: int, message: Message, conversation: Conversation
    ) -> None:
        out.add(fill(self.slots.user, self.content(message)), index)

    def render_assistant(
        self, out: SegmentBuilder, index: int, message: Message, conversation: Conversation
    ) -> None:
        out.add(self.slots.assistant_header, index)
        out.add(fill(self.slots.assistant, self.answer(index, message, conversation)), index, True)
        if self.final_answer_stop:
            out.open_answer(index)
        out.add(self.slots.assistant_suffix, index)

    def answer(self, index: int, message: Message, conversation: Conversation) -> str:
        """The text of an answer as the template writes it (before its end-of-turn token)."""
        return self.content(message)

    def render_tool(
        self, out: SegmentBuilder, index: int, message: Message, conversation: Conversation
    ) -> None:
        raise NotImplementedError(f"{self.name}: tool results")  # check() refuses them first

    def generation_prompt(self, conversation: Conversation) -> str:
        return self.slots.generation_prompt
