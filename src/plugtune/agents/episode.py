"""One agentic episode, driven by the run's chat template.

The template renders the tools and every turn, and reads the model's tool calls back
(:class:`~plugtune.sdk.templates.replies.ParsesReplies`): a model is trained and used in
exactly the format it will meet. An episode ends when a reply calls no tool (its
content is the final answer), when a reply would take the calls past
``max_tool_calls`` (those calls are not run), or when the caller stops it (out of
tokens). A reply that looks like a call but does not parse is a *parse failure*: it
stays content, ends the episode as an answer, and is counted for the rewards and logs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

from plugtune.agents.toolbox import Toolbox, ToolOutcome
from plugtune.core.errors import ConfigError
from plugtune.core.interfaces import ChatTemplate, OwnsReward
from plugtune.core.records import Conversation, Message
from plugtune.sdk.templates.replies import ParsesReplies, Reply
from plugtune.sdk.templates.tool_calls import SpotsCalls

STOP_REASONS = ("answer", "max_tool_calls", "length")


def check_template(template: ChatTemplate) -> None:
    """Tool episodes need a template that renders tools and reads calls back."""
    if not isinstance(template, ParsesReplies) or getattr(template, "supports_tools", None) \
            is False:
        raise ConfigError(
            f"template {template.name!r} cannot render tools or read tool calls back; "
            "choose one that can (qwen, qwen2, qwen3, llama3.1, glm4, …): "
            "data.template: qwen2")


class Episode:
    """The record's conversation with the episode's tools, the model's turns and the
    tools' messages. ``observation``: what the environment's ``reset`` added to the
    last user message."""

    def __init__(self, conversation: Conversation, template: ChatTemplate, toolbox: Toolbox,
                 *, max_tool_calls: int, environment: object | None = None,
                 observation: str | None = None) -> None:
        check_template(template)
        self.template = template
        self.toolbox = toolbox
        self.max_tool_calls = max_tool_calls
        self.environment = environment
        messages = list(conversation.messages)
        if observation:
            last = messages[-1]
            messages[-1] = replace(last, content=last.content + observation)
        self.start = replace(conversation, messages=tuple(messages),
                             tools=(*conversation.tools, *toolbox.schemas))
        self.turns: list[Message] = []
        self.outcomes: list[ToolOutcome] = []
        self.parse_failures = 0
        self.stopped: str | None = None

    @property
    def conversation(self) -> Conversation:
        return replace(self.start, messages=(*self.start.messages, *self.turns))

    def prompt(self) -> str:
        """The whole episode so far, rendered up to the model's next turn."""
        return self.template.render(self.conversation, add_generation_prompt=True)

    def reply(self, text: str) -> bool:
        """Take the model's reply (without its end-of-turn marker); True when tools
        answered and it is the model's turn again, False when the episode is over."""
        reply: Reply = self.template.parse_reply(text)  # type: ignore[attr-defined]
        self.turns.append(Message("assistant", reply.content, reply.tool_calls, reply.reasoning))
        if not reply.tool_calls:
            if _looks_like_a_call(self.template, reply.content):
                self.parse_failures += 1
            self.stopped = "answer"
            return False
        if len(self.outcomes) + len(reply.tool_calls) > self.max_tool_calls:
            self.stopped = "max_tool_calls"
            return False
        for call in reply.tool_calls:
            outcome = self.toolbox.call(call)
            self.outcomes.append(outcome)
            self.turns.append(Message("tool", outcome.text, name=call.name))
        return True

    def stop(self, reason: str) -> None:
        """End the episode from outside (``length``: no tokens left)."""
        self.stopped = reason

    def continuation(self) -> str:
        """The text after the last reply's end-of-turn marker up to the model's next
        turn (tool messages, then the generation prompt): what training appends to the
        tokens the model generated, so the policy is trained on its own tokens."""
        last_reply = max(i for i, m in enumerate(self.turns) if m.role == "assistant")
        before = replace(self.start, messages=(*self.start.messages, *self.turns[:last_reply + 1]))
        done, after = self.template.render(before), self.prompt()
        end_of_turn = self.template.stop_strings[0]
        if not after.startswith(done) or end_of_turn not in done:
            raise ConfigError(
                f"template {self.template.name!r} renders earlier turns differently once "
                "tool results follow; agentic training needs one that only appends")
        return done[done.rindex(end_of_turn) + len(end_of_turn):] + after[len(done):]

    @property
    def answer(self) -> str:
        """The final answer: the last reply's content."""
        replies = [m for m in self.turns if m.role == "assistant"]
        return replies[-1].content.strip() if replies else ""

    def environment_reward(self) -> float | None:
        """The environment's own score of the episode (None: it owns no reward)."""
        if not isinstance(self.environment, OwnsReward):
            return None
        return float(self.environment.get_reward())

    def summary(self) -> dict[str, Any]:
        """What the episode log shows."""
        errors = Counter(o.error for o in self.outcomes if o.error)
        return {
            "turns": sum(m.role == "assistant" for m in self.turns),
            "tool_calls": len(self.outcomes),
            "tool_errors": dict(errors),
            "parse_failures": self.parse_failures,
            "stopped": self.stopped,
            "calls": [{"name": o.call.name, "arguments": o.call.arguments, "result": o.text,
                       **({"error": o.error} if o.error else {})} for o in self.outcomes],
            "answer": self.answer,
        }


def _looks_like_a_call(template: ChatTemplate, content: str) -> bool:
    calls = getattr(getattr(template, "reply_format", None), "calls", None)
    return isinstance(calls, SpotsCalls) and calls.starts_call(content)
