"""GLM-4-9b-chat (the original, remote-code tokenizer's template).

``[gMASK]<sop>``, then ``<|role|>{metadata}\\n{content}`` per message, nothing between
turns, and an item with empty content is not rendered at all. Canonical records map to
GLM-4's own message conventions, which its template expects instead of OpenAI's:

- tool specs belong to the system item (``"tools"`` on it): the built-in Chinese tools
  prompt, each function as indented JSON; a system item is added if there is none;
- a tool call is an assistant item whose metadata is the function name and whose
  content is the arguments as JSON; a tool result is an ``observation`` item.

An answer ends where the next ``<|user|>`` or ``<|observation|>`` begins (the model's
stop tokens); that token is trained as the answer's stop, and ``<|user|>`` is appended
after a final answer, which the upstream template leaves open.

A reply is read back item by item (:class:`~plugtune.sdk.templates.tool_calls.GLM4Calls`):
``\\ncontent`` is content, ``name\\n{arguments}`` a call.
"""

from __future__ import annotations

from plugtune.core.interfaces import Segment
from plugtune.core.records import Conversation, Message
from plugtune.plugins.templates.qwen import to_json
from plugtune.sdk.templates.family import SegmentBuilder, TemplateBase
from plugtune.sdk.templates.replies import ReplyFormat
from plugtune.sdk.templates.tool_calls import GLM4Calls

TOOLS_PROMPT = (
    "<|system|>\n你是一个名为 ChatGLM 的人工智能助手。你是基于智谱AI训练的语言模型 GLM-4 "
    "模型开发的，你的任务是针对用户的问题和要求提供适当的答复和支持。\n\n# 可用工具"
)
FUNCTION_NOTE = "\n在调用上述函数时，请使用 Json 格式表示调用的参数。"


class GLM4Template(TemplateBase):
    """GLM-4-9b-chat, tools included."""

    name = "glm4"
    stop_strings = ("<|user|>", "<|observation|>", "<|endoftext|>")
    eos_token = "<|endoftext|>"
    supports_tools = True
    final_answer_stop = "<|user|>"
    reply_format = ReplyFormat(calls=GLM4Calls())
    jinja_digests = frozenset(
        {
            # glm-4-9b-chat (original)
            "27288f957f8364c990a2ce13bf5f8bf86921c4bce467ce698c76dcc69466d821",
        }
    )

    def segments(
        self, conversation: Conversation, *, add_generation_prompt: bool = False
    ) -> list[Segment]:
        given = self.default_system_segments(conversation,
                                             add_generation_prompt=add_generation_prompt)
        if given is not None:
            return given
        self.check(conversation)
        out = self.new_builder()
        out.add("[gMASK]<sop>")
        system = conversation.system
        if conversation.tools:
            out.add(self._tools_prompt(conversation), 0 if system is not None else -1)
        for index, message in enumerate(conversation.messages):
            if message.role == "assistant":
                self._render_answer(out, index, message)
            else:
                role = "observation" if message.role == "tool" else message.role
                if message.content:
                    out.add(f"<|{role}|>\n{message.content}", index)
        out.close_answer(self.final_answer_stop)
        if add_generation_prompt:
            out.add("<|assistant|>")
        return out.build()

    def _render_answer(self, out: SegmentBuilder, index: int, message: Message) -> None:
        items = [f"\n{message.content}"] if message.content else []
        for call in message.tool_calls:
            arguments = call.arguments
            encoded = arguments if isinstance(arguments, str) else to_json(arguments)
            items.append(f"{call.name}\n{encoded}")
        if not items:
            return  # an empty answer: upstream renders nothing for it
        out.add("<|assistant|>", index)
        out.add("<|assistant|>".join(items), index, True)
        out.open_answer(index)

    def _tools_prompt(self, conversation: Conversation) -> str:
        pieces = [TOOLS_PROMPT]
        for number, tool in enumerate(conversation.tools):
            if tool.get("type") != "function":
                self.fail(
                    conversation,
                    f"tools[{number}]: only function tools are supported, got {tool.get('type')!r}",
                )
            function = tool["function"]
            spec = to_json(function, indent=4)
            pieces.append(f"\n## {function['name']}\n\n{spec}{FUNCTION_NOTE}")
        return "".join(pieces)
