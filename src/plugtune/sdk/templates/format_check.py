"""Another tool's chat format as data, and checking that a template renders it.

Why: a foreign config names its chat format by the other tool's name (LLaMA-Factory's
``template: zephyr``). Where plugtune has no family for it, the model's own chat template
(``hf``) may render the same text, or may not: a newline, a space, a default system
prompt. Which one holds is known only once the tokenizer is loaded, so the other tool's
format is kept as slot strings (:class:`ChatFormat`) and the template is rendered beside
it on a few probe chats when the run starts (:func:`format_mismatch`). A difference stops
the run with the first text that differs, instead of silently training a format the
other tool would not have trained.

Slots hold ``{content}`` (the message text) and ``{bos}``/``{eos}`` (the tokenizer's
tokens, empty when it has none). ``user`` includes what opens the answer, as a
generation prompt does; ``closing`` follows a final answer only (a format that writes the
eos once, after the last answer); ``system_in_user`` writes the filled system slot in
front of the first user message's text (Llama 2 and Gemma do).
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from plugtune.core.records import Conversation, Message

#: Chats both sides render: answered ones (compared without a generation prompt) and
#: prompts ending with a user turn (compared with one); with and without a system
#: message, one and several turns, non-ASCII text.
PROBE_CHATS: tuple[Conversation, ...] = (
    Conversation((Message("user", "Hi"), Message("assistant", "Hello! How can I help?"))),
    Conversation((Message("user", "What is 2 + 2?"),)),
    Conversation((Message("user", "Hi"), Message("assistant", "Hello!"),
                  Message("user", "你好"), Message("assistant", "你好！"))),
    Conversation((Message("user", "Hi"), Message("assistant", "Hello!"),
                  Message("user", "Name a colour."))),
    Conversation((Message("system", "Answer briefly."), Message("user", "Hi"),
                  Message("assistant", "Hello!"))),
    Conversation((Message("system", "Answer briefly."), Message("user", "Name a colour."))),
)
_CONTEXT = 24  # characters shown before and after a difference


class ChatFormat(BaseModel):
    """A chat format as slot strings (see the module docstring for the placeholders)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    origin: str = Field(description="Whose format this is, for messages (\"LLaMA-Factory's "
                        "template 'zephyr'\").")
    prefix: str = Field("", description="Written once, before the first message.")
    system: str = Field("{content}", description="A system message.")
    user: str = Field("{content}", description="A user message and what opens the answer.")
    assistant: str = Field("{content}", description="An answer and what ends it.")
    closing: str = Field("", description="Written after a final answer.")
    default_system: str = Field("", description="The system text of chats without one "
                                "(or with an empty one).")
    system_in_user: bool = Field(False, description="The system slot goes inside the first "
                                 "user message, before its text.")

    def render(self, conversation: Conversation, *, bos: str | None = None,
               eos: str | None = None) -> str:
        """The text of ``conversation`` in this format (a chat ending with a user turn
        ends with what opens the answer)."""

        def fill(slot: str, content: str) -> str:
            tokens = slot.replace("{bos}", bos or "").replace("{eos}", eos or "")
            return tokens.replace("{content}", content, 1)

        system = conversation.system or self.default_system
        turns = [m for m in conversation.messages if m.role != "system"]
        text = fill(self.prefix, "") if turns else ""
        if system and not self.system_in_user:
            text += fill(self.system, system)
        for index, message in enumerate(turns):
            if message.role == "user":
                inside = bool(system) and self.system_in_user and index == 0
                lead = fill(self.system, system) if inside else ""
                text += fill(self.user, lead + message.content)
            elif message.role == "assistant":
                text += fill(self.assistant, message.content)
            else:
                raise ValueError(f"{self.origin}: no slot for a {message.role!r} message")
        if turns and turns[-1].role == "assistant":
            text += fill(self.closing, "")
        return text


#: ``render(conversation, add_generation_prompt)``: the text a template writes.
Render = Callable[[Conversation, bool], str]


def format_mismatch(expected: ChatFormat, render: Render, *, bos: str | None = None,
                    eos: str | None = None, with_system: bool = True) -> str | None:
    """Where ``render`` first writes other text than ``expected`` on the probe chats, in
    words; None when it writes the same on all (``with_system=False`` skips the chats
    with a system message, for a template that has no system role)."""
    for chat in PROBE_CHATS:
        if chat.system is not None and not with_system:
            continue
        prompt = chat.messages[-1].role == "user"
        roles = ", ".join(message.role for message in chat.messages)
        where = f"on the probe chat ({roles}{', then the generation prompt' if prompt else ''})"
        want = expected.render(chat, bos=bos, eos=eos)
        try:
            got = render(chat, prompt)
        except Exception as error:  # a template is code: whatever it raises is the answer
            return f"{where} the template fails: {type(error).__name__}: {error}"
        if got != want:
            at = next((i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b),
                      min(len(want), len(got)))
            before = want[max(0, at - _CONTEXT):at]
            after = f" (after {'…' if at > _CONTEXT else ''}{before!r})" if at else ""
            return (f"{where}, at character {at}{after}: {expected.origin} writes "
                    f"{_following(want, at)}, the template writes {_following(got, at)}")
    return None


def _following(text: str, at: int) -> str:
    """The text from position ``at`` on, quoted and cut short."""
    shown = text[at:at + _CONTEXT]
    return f"{shown!r}{'…' if at + _CONTEXT < len(text) else ''}" if shown else "nothing more"
