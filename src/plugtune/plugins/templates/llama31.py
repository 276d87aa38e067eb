"""Llama 3.1 Instruct: Llama 3's format plus a fixed system header and JSON tool calls.

Written from Llama-3.1-8B-Instruct's template, with its defaults (no ``builtin_tools``,
``tools_in_user_message=true``):

- the system turn always exists and starts with "Cutting Knowledge Date: December 2023"
  and "Today Date: <date_string>" (the upstream default "26 Jul 2024" unless the
  ``date_string`` option says otherwise), preceded by "Environment: ipython" when
  there are tools;
- tool specs (indented JSON) and instructions are prepended to the first user turn;
- a call is ``{"name": …, "parameters": …}`` (one call per turn; the text of a turn
  that calls a tool is not rendered), a result is an ``ipython`` turn holding the
  result JSON-encoded as a string.

A reply that is nothing but such JSON (after ``<|python_tag|>`` when special tokens are
kept) is read back as its calls (:class:`~plugtune.sdk.templates.tool_calls.JsonCalls`);
any other reply is content.
"""

from __future__ import annotations

from plugtune.core.records import Conversation, Message
from plugtune.plugins.templates.families import Llama3Template
from plugtune.plugins.templates.qwen import to_json
from plugtune.sdk.templates.default_system import TemplateOptions
from plugtune.sdk.templates.family import SegmentBuilder
from plugtune.sdk.templates.replies import ReplyFormat
from plugtune.sdk.templates.tool_calls import JsonCalls

HEADER = "<|start_header_id|>{role}<|end_header_id|>\n\n"
CALL_FORMAT = (
    'Respond in the format {"name": function name, "parameters": dictionary of argument '
    "name and its value}.Do not use variables.\n\n"
)
TOOLS_PREAMBLE = (
    "Given the following functions, please respond with a JSON for a function call with its "
    "proper arguments that best answers the given prompt.\n\n" + CALL_FORMAT
)


class Llama31Options(TemplateOptions):
    """Options of the ``llama3.1`` template."""

    date_string: str = "26 Jul 2024"


class Llama31Template(Llama3Template):
    """Llama 3.1 Instruct: dated system header, tools in the first user turn, ipython results."""

    name = "llama3.1"
    stop_strings = ("<|eot_id|>", "<|eom_id|>", "<|end_of_text|>")
    supports_tools = True
    Options = Llama31Options
    # A calling reply is the call's JSON alone (after <|python_tag|>, when kept).
    reply_format = ReplyFormat(calls=JsonCalls())
    jinja_digests = frozenset(
        {
            # Llama-3.1-8B-Instruct
            "93c0e9aa3629bbd77e68dbc0f5621f6e6b23aa8d74b932595cdb8d64684526d7",
        }
    )

    def __init__(self, date_string: str = "26 Jul 2024", default_system: str | None = None
                 ) -> None:
        super().__init__(default_system)
        self.date_string = date_string

    def render_system(self, out: SegmentBuilder, conversation: Conversation) -> None:
        system = conversation.system
        text = HEADER.format(role="system")
        if conversation.tools:
            text += "Environment: ipython\n"
        text += f"Cutting Knowledge Date: December 2023\nToday Date: {self.date_string}\n\n"
        out.add(text + (system or "").strip() + "<|eot_id|>", 0 if system is not None else -1)

    def render_user(
        self, out: SegmentBuilder, index: int, message: Message, conversation: Conversation
    ) -> None:
        first = 1 if conversation.system is not None else 0
        if not conversation.tools or index != first:
            super().render_user(out, index, message, conversation)
            return
        specs = "".join(to_json(tool, indent=4) + "\n\n" for tool in conversation.tools)
        text = HEADER.format(role="user") + TOOLS_PREAMBLE + specs
        out.add(text + message.content.strip() + "<|eot_id|>", index)

    def answer(self, index: int, message: Message, conversation: Conversation) -> str:
        if not message.tool_calls:
            return message.content.strip()
        if len(message.tool_calls) != 1:
            self.fail(conversation, f"messages[{index}]: Llama 3.1 makes one tool call per turn")
        call = message.tool_calls[0]
        return f'{{"name": "{call.name}", "parameters": {to_json(call.arguments)}}}'

    def render_tool(
        self, out: SegmentBuilder, index: int, message: Message, conversation: Conversation
    ) -> None:
        # Upstream tests "content is iterable", true of a string: the result is JSON-encoded.
        out.add(HEADER.format(role="ipython") + to_json(message.content) + "<|eot_id|>", index)
