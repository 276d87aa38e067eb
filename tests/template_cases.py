"""Shared cases for the chat-template tests: upstream templates, goldens, a corpus,
and the reference renderer (transformers' own)."""

from __future__ import annotations

import json
import random
from typing import Any

from transformers.utils.chat_template_utils import render_jinja_template

from plugtune import Session
from plugtune.core.records import Conversation, Message, ToolCall
from plugtune.sdk.turns import check_messages
from tests.conftest import FIXTURES, HAVE_FIXTURES


def _fixture(name: str) -> list[dict[str, Any]]:
    """A fixture file's entries; none without ../shared (those tests are skipped)."""
    path = FIXTURES / name
    return json.loads(path.read_text(encoding="utf-8")) if HAVE_FIXTURES else []


UPSTREAM = {entry["chat_template_sha256"]: entry for entry in _fixture("chat_templates.json")}
GOLDENS = _fixture("chat_template_goldens.json")


def upstream_text(sha: str) -> str:
    """An upstream template's text ("" without ../shared: the test using it is skipped)."""
    return UPSTREAM[sha]["chat_template"] if HAVE_FIXTURES else ""
SESSION = Session()
TEMPLATES = SESSION.registry("templates")

QWEN25 = "cd8e9439f0570856fd70470bf8889ebd8b5d1107207f67a5efb46e342330527f"
QWEN3 = "87a2728cb8dc9fe424d624542f6060ec05a1d285ebbec578bb078900e33396b5"
LLAMA3 = "ba03a121d097859c7b5b9cd03af99aafe95275210d2876f642ad9929a150f122"
LLAMA3_INITIAL = "b48c47f6443892716176eb200bf4ef108f64e06ca26ed0fa8ebc0a4b3992fcb2"
LLAMA31 = "e10ca381b1ccc5cf9db52e371f3b6651576caee0a630b452e2816b2d404d4b65"
GLM4 = "27288f957f8364c990a2ce13bf5f8bf86921c4bce467ce698c76dcc69466d821"
CHATGLM3 = "e4496f930bf7b7bc7e7cf8232e90fd43ab4a9d8eb9c77f6ec98f5beb5c5cbeaa"
MISTRAL_TOOLS = "225aaeb28812e3ea17ec7ce3963b705811ea431cfefc8cef624e0f2930f8e7e3"
MISTRAL = "bf1a68895d61bbff700ad350ac45c39a4a76cc20cf18ebb5bcca8d252a9f00cb"
GEMMA2 = "ecd6ae513fe103f0eb62e8ab5bfa8d0fe45c1074fa398b089c93a7e70c15cfd6"
DEEPSEEK_R1 = "b6835114b7303ddd78919a82e4d9f7d8c26ed0d7dfc36beeb12d524f6144eab1"
YI = "91aa728ae59c8e30443382f44f48d594b5f7afe91a449c0e5ed0e920a71d60a2"
BAICHUAN2 = "89dbc4b4e39f09d1433d184341e0fa32b66a4d7653c287850a187f3885756a01"
PHI3 = "dcaee66df77bfbb789ec541fe713218da30225a526f1db97138fc39ee6dc56aa"
PHI3_INITIAL = "b0e53f5e7bae6fdb93013abeceef343e8841cce87def2601e7269a53439b5740"
INTERNLM25 = "49aa7cb516942cc5a17d45ed2939828e3b5e4188dc487a3c4b64a570e5b5111f"
INTERNLM2_OLD = "3ce2fe9753f9a77a601f55dfcab7cd46fbc91324aae0f78ca38d194a4eaef8d5"
QWEN_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."


def qwen25_base(text: str) -> str:
    """Qwen2.5 base models' template: the Instruct one with the older default system."""
    return text.replace(QWEN_SYSTEM, "You are a helpful assistant.")


def without_bos(text: str) -> str:
    return text.replace("{{ bos_token }}", "", 1)


#: (id, upstream sha256, template name, options, Jinja variables, how the text is derived)
#: Each built-in template against the upstream variant it follows, and against the other
#: variants it matches exactly (the note says how).
VARIANTS = [
    ("qwen", QWEN25, "qwen", {}, {}, None),
    ("qwen2=qwen2.5-base", QWEN25, "qwen2", {}, {}, qwen25_base),
    ("qwen3", QWEN3, "qwen3", {}, {}, None),
    ("qwen3-nothink", QWEN3, "qwen3", {"enable_thinking": False}, {"enable_thinking": False}, None),
    ("llama3", LLAMA3, "llama3", {}, {}, None),
    ("llama3.1", LLAMA31, "llama3.1", {}, {}, None),
    (
        "llama3.1-date",
        LLAMA31,
        "llama3.1",
        {"date_string": "1 May"},
        {"date_string": "1 May"},
        None,
    ),
    ("glm4", GLM4, "glm4", {}, {}, None),
    ("chatglm3", CHATGLM3, "chatglm3", {}, {}, None),
    ("mistral", MISTRAL, "mistral", {}, {}, None),
    ("gemma", GEMMA2, "gemma", {}, {}, None),
    ("deepseek-r1", DEEPSEEK_R1, "deepseek-r1", {}, {}, None),
    ("yi", YI, "yi", {}, {}, None),
    ("baichuan2", BAICHUAN2, "baichuan2", {}, {}, None),
    ("phi3", PHI3, "phi3", {}, {}, None),
    # The initial Phi-3 revision differs only by a leading bos_token.
    ("phi3=initial-revision-without-bos", PHI3_INITIAL, "phi3", {}, {"bos_token": ""}, None),
    ("internlm2", INTERNLM25, "internlm2", {}, {}, None),
    ("chatml=internlm2.5-without-bos", INTERNLM25, "chatml", {}, {}, without_bos),
]
#: Upstream variants no built-in template follows (``hf`` renders them).
NOT_FOLLOWED = {
    LLAMA3_INITIAL: "writes the assistant header even without add_generation_prompt",
    MISTRAL_TOOLS: "hf.js-labelled v0.3 tool template, contradicts Mistral's documented spacing",
    INTERNLM2_OLD: "InternLM2 (not 2.5): eos after a final answer",
}

# --- a corpus of conversations ------------------------------------------------------

TEXTS = [
    "Hello!",
    "What's 2+2?",
    "你好，世界",
    "请用中文回答：天空为什么是蓝色的？",
    "Ünïcödé ✓ — “quotes” ½ ∑ café",
    "emoji 🚀🔥 and ZWJ 👩‍💻",
    "  leading and trailing spaces  ",
    "\nnewlines\n\ninside\n",
    "code:\n```python\nprint({'a': 1})\n```",
    "{content} {{ not jinja }} {% raw %} %}",
    "tabs\tand\\backslashes\\n",
    "a long one " * 40,
    "<think>\ninline reasoning\n</think>\n\nthe answer after it",
    "数学：3 × 4 = 12。\n第二行。",
]
SYSTEMS = ["", "You are a helpful assistant.", "你是一个乐于助人的助手。", "  padded system \n"]
REASONING = [None, None, "", "Let me think step by step.", "\n先想一想。\n"]
TOOLS = (
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather; 城市的天气",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {"name": "search", "description": "Search the web.", "parameters": {}},
    },
)
ARGUMENTS = [{"city": "Paris"}, {"city": "北京", "days": 3}, '{"query": "天气"}', {}]
RESULTS = ['{"temperature": 21}', "晴，25°C", "no results"]


def corpus(
    seed: int,
    count: int = 40,
    *,
    system: bool = True,
    tools: bool = False,
    max_calls: int = 2,
    reasoning: bool = False,
) -> list[Conversation]:
    """Valid conversations: system or not (empty too), 1-5 turns, unicode, Chinese,
    ending with an answer or awaiting one; tool calls and results if ``tools``."""
    rng = random.Random(seed)
    conversations = []
    for number in range(count):
        messages = []
        if system and rng.random() < 0.5:
            messages.append(Message("system", rng.choice(SYSTEMS)))
        uses_tools = tools and number % 2 == 0
        for _ in range(rng.randint(1, 5)):
            messages.append(Message("user", rng.choice(TEXTS)))
            if uses_tools and rng.random() < 0.6:
                calls = tuple(
                    ToolCall(
                        rng.choice(["get_weather", "search"]),
                        rng.choice(ARGUMENTS),
                        rng.choice([None, f"call{rng.randrange(10**6):06d}"]),
                    )
                    for _ in range(rng.randint(1, max_calls))
                )
                messages.append(Message("assistant", rng.choice(["", "Let me check."]), calls))
                messages += [Message("tool", rng.choice(RESULTS), name=c.name) for c in calls]
            think = rng.choice(REASONING) if reasoning else None
            messages.append(Message("assistant", rng.choice(TEXTS), reasoning=think))
        if rng.random() < 0.4:
            messages.pop()
        conversation = Conversation(tuple(messages), tools=TOOLS if uses_tools else ())
        check_messages(conversation.messages, origin=f"corpus:{number}")
        conversations.append(conversation)
    return conversations


def corpus_for(template: Any, seed: int) -> list[Conversation]:
    return corpus(
        seed,
        system=template.supports_system,
        tools=template.supports_tools,
        max_calls=1 if template.name == "llama3.1" else 2,
        reasoning=template.name == "qwen3",
    )


def prompt_settings(conversation: Conversation) -> tuple[bool, ...]:
    """A conversation ending with an answer is rendered for training only."""
    return (False,) if conversation.messages[-1].role == "assistant" else (False, True)


# --- the reference: transformers' renderer -------------------------------------------


def reference(
    chat_template: str,
    conversation: Conversation,
    add_generation_prompt: bool,
    variables: dict[str, Any],
    glm: bool = False,
) -> str:
    messages = glm4_messages(conversation) if glm else openai_messages(conversation)
    tools = [dict(tool) for tool in conversation.tools] or None
    rendered, _ = render_jinja_template(
        [messages],
        tools=None if glm else tools,
        chat_template=chat_template,
        add_generation_prompt=add_generation_prompt,
        **variables,
    )
    return rendered[0]


def openai_messages(conversation: Conversation) -> list[dict[str, Any]]:
    """OpenAI-shaped messages; a tool result carries the id of the call it answers."""
    messages = conversation.to_openai()
    call_ids: list[str | None] = []
    for message, data in zip(conversation.messages, messages, strict=True):
        if message.tool_calls:
            call_ids = [call.id for call in message.tool_calls]
        elif message.role == "tool" and call_ids and (call_id := call_ids.pop(0)):
            data["tool_call_id"] = call_id
    return messages


def glm4_messages(conversation: Conversation) -> list[dict[str, Any]]:
    """GLM-4's own message conventions: tools on the system item, a call as an assistant
    item with the function name as metadata, a result as an observation item."""
    messages: list[dict[str, Any]] = []
    for message in conversation.messages:
        if message.role == "assistant":
            if message.content or not message.tool_calls:
                messages.append({"role": "assistant", "content": message.content})
            for call in message.tool_calls:
                arguments = call.arguments
                if not isinstance(arguments, str):
                    arguments = json.dumps(arguments, ensure_ascii=False)
                messages.append({"role": "assistant", "metadata": call.name, "content": arguments})
        else:
            role = "observation" if message.role == "tool" else message.role
            messages.append({"role": role, "content": message.content})
    if conversation.tools:
        if not (messages and messages[0]["role"] == "system"):
            messages.insert(0, {"role": "system", "content": ""})
        messages[0]["tools"] = [dict(tool) for tool in conversation.tools]
    return messages


def special_tokens(template: Any) -> dict[str, str]:
    """The tokens apply_chat_template passes: the tokenizer's, where it has them."""
    tokens = {"bos_token": template.bos_token, "eos_token": template.eos_token}
    return {key: value for key, value in tokens.items() if value is not None}


def expected_rendering(
    template: Any, text: str, conversation: Conversation, prompt: bool, variables: dict[str, Any]
) -> str:
    expected = reference(text, conversation, prompt, variables, glm=template.name == "glm4")
    if template.final_answer_stop and conversation.messages[-1].role == "assistant":
        expected += template.final_answer_stop  # the one documented addition
    return expected


