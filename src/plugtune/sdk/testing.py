"""Helpers for plugin authors' own tests.

:func:`check_chat_template` catches the template bugs that silently ruin a fine-tune:
an answer left out of the loss, an end-of-turn token left out of the loss (the model
then never learns to stop), a role header in the loss, segments that do not add up to
the rendered text. :func:`check_jinja_parity` checks that the Jinja chat template a
template writes (what a trained run ships with) renders what the template renders;
:func:`check_reply_parsing` that it reads the answers it renders back (content,
reasoning, tool calls), whole and streamed however the text is cut::

    from plugtune.sdk.testing import check_chat_template, check_jinja_parity, check_reply_parsing

    def test_my_template():
        check_chat_template(MyTemplate())
        check_jinja_parity(MyTemplate())
        check_reply_parsing(MyTemplate())

plugtune's own test suite runs them over every registered template.
:func:`check_environment` does the same for an environment: what a training run would
otherwise find only when its first episode starts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from plugtune.core.interfaces import Environment, OwnsReward, Segment
from plugtune.core.records import Conversation, Message, ToolCall
from plugtune.sdk.environments import environment_tools
from plugtune.sdk.templates.replies import ParsesReplies, Reply, join_deltas

_WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def check_environment(make: Callable[[], Any], records: Sequence[Mapping[str, Any]] = ({},)
                      ) -> list[Mapping[str, Any]]:
    """Check an environment the way a run uses it, and give its tools' schemas (what
    the template shows the model) for the test to look at. ``make`` builds one (the
    class, or a factory with options); ``records``: the columns episodes reset it with.

    Each record gets a fresh environment, as each episode does: ``reset(**columns)``
    must return None or text (added to the prompt); every tool must have a schema (type
    hints, a Google-style docstring with an Args section) and a distinct name; an
    environment that owns its reward must score a fresh episode with a finite number.
    The first failure raises: an ``AssertionError`` naming the record and the problem,
    or for a tool without a schema the ``ConfigError`` a run would stop with.
    """
    schemas: list[Mapping[str, Any]] = []
    for index, columns in enumerate(records):
        where = f"record {index} ({dict(columns)})"
        environment = make()
        assert isinstance(environment, Environment), (
            f"{type(environment).__name__} has no reset(**columns) method")
        observation = environment.reset(**columns)
        assert observation is None or isinstance(observation, str), (
            f"{where}: reset returned {type(observation).__name__}; return text to add "
            "to the prompt, or None")
        tools = environment_tools(environment)
        names = [tool.name for tool in tools]
        assert tools, f"{type(environment).__name__} offers no tools (no public methods)"
        assert len(set(names)) == len(names), f"two tools share a name: {names}"
        if isinstance(environment, OwnsReward):
            reward = environment.get_reward()
            assert isinstance(reward, int | float) and math.isfinite(reward), (
                f"{where}: get_reward() gave {reward!r} before any call; a reward is a "
                "finite number")
        schemas = [tool.schema for tool in tools]
    return schemas


def _chat(*texts: str, system: str | None = None) -> tuple[Message, ...]:
    roles = ("user", "assistant")
    messages = tuple(Message(roles[i % 2], text) for i, text in enumerate(texts))
    return ((Message("system", system),) if system is not None else ()) + messages


#: (name, conversation, needs): the samples; ``needs`` names an optional feature.
SAMPLES: tuple[tuple[str, Conversation, str], ...] = (
    ("one turn", Conversation(_chat("What is 2+2?", "4.")), ""),
    ("three turns", Conversation(_chat("Hi!", "Hey.", "A colour?", "Blue.", "Why?", "Sky.")), ""),
    ("Chinese", Conversation(_chat("你好，请介绍一下你自己。", "我是一个乐于助人的助手。")), ""),
    ("whitespace", Conversation(_chat("  spaced  \n", "\n  line one\nline two  ")), ""),
    ("awaiting an answer", Conversation(_chat("First?", "Yes.", "Second?")), ""),
    ("system", Conversation(_chat("Hi", "Hello!", system="You are terse.")), "system"),
    ("empty system", Conversation(_chat("Hi", "Hello!", system="")), "system"),
    (
        "tools",
        Conversation(
            (
                Message("user", "Weather in Paris?"),
                Message("assistant", "", (ToolCall("get_weather", {"city": "Paris"}),)),
                Message("tool", '{"temperature": 21}', name="get_weather"),
                Message("assistant", "It is 21 °C in Paris."),
            ),
            tools=(_WEATHER_TOOL,),
        ),
        "tools",
    ),
)


def check_chat_template(template: Any) -> None:
    """Render the built-in sample conversations; raise ``AssertionError`` unless

    - ``name`` is a string and ``stop_strings`` a non-empty tuple of non-empty strings;
    - the segments join to ``render()``, with and without a generation prompt;
    - every assistant message has a trainable segment, and the last one ends with one of
      ``stop_strings`` (the end-of-turn token is inside the loss);
    - no trainable segment belongs to anything but an assistant message, and the
      generation prompt (what ``add_generation_prompt`` adds) is never trainable;
    - no answer's trainable text starts with the generation prompt (the role header).

    Samples with a system message or tools are skipped for templates that say they do
    not support them (``supports_system`` / ``supports_tools`` false) or, when they do
    not say (no such attribute, or ``None``), that raise ``ValueError`` on them.
    """
    name = getattr(template, "name", None)
    assert isinstance(name, str) and name, f"{template!r}: name must be a non-empty string"
    stops = getattr(template, "stop_strings", None)
    assert isinstance(stops, tuple) and stops and all(isinstance(s, str) and s for s in stops), (
        f"template {name!r}: stop_strings must be a non-empty tuple of non-empty strings, "
        f"got {stops!r}"
    )
    checked = 0
    for sample, conversation in _samples(template):
        for generation_prompt in (False, True):
            where = f"template {name!r}, sample {sample!r}"
            _check_sample(template, where, conversation, generation_prompt)
        checked += 1
    assert checked, f"template {name!r}: rendered none of the sample conversations"


def check_jinja_parity(template: Any, conversations: Iterable[Conversation] = ()) -> int:
    """Render the sample conversations (and ``conversations``) with ``template`` and with
    the Jinja chat template its ``jinja()`` writes, as ``apply_chat_template`` would,
    with and without the generation prompt; raise ``AssertionError`` at the first
    difference. Returns how many renderings were compared (0: it writes no Jinja)."""
    from plugtune.sdk.templates.jinja import render_chat_template, template_messages

    source = template.jinja() if hasattr(template, "jinja") else None
    if source is None:
        return 0
    tokens = {key: value for key in ("bos_token", "eos_token")
              if (value := getattr(template, key, None)) is not None}
    samples = [*(conversation for _, conversation in _samples(template)), *conversations]
    compared = 0
    for conversation in samples:
        for prompt in (False, True):
            expected = template.render(conversation, add_generation_prompt=prompt)
            rendered = render_chat_template(
                source, template_messages(conversation),
                tools=[dict(tool) for tool in conversation.tools] or None,
                add_generation_prompt=prompt, **tokens,
            )
            assert rendered == expected, (
                f"template {template.name!r}: its Jinja renders {rendered!r}, the template "
                f"{expected!r} (generation prompt {prompt})"
            )
            compared += 1
    return compared


#: Samples whose last answer every family renders as given (no whitespace trimmed).
_REPLY_SAMPLES = ("one turn", "three turns", "Chinese", "system", "tools", "a tool call")
_TOOL_CALL = (
    "a tool call",
    Conversation((Message("user", "Weather in Paris and Rome?"),
                  Message("assistant", "", (ToolCall("get_weather", {"city": "Paris"}),))),
                 tools=(_WEATHER_TOOL,)),
    "tools",
)


def check_reply_parsing(template: Any, conversations: Iterable[Conversation] = ()) -> int:
    """For each sample conversation (and each of ``conversations``) that ends with an
    answer (a tool call too, for a template whose ``supports_tools`` is True), take the
    text the model generates for that answer (:func:`generated_reply`)
    and raise ``AssertionError`` unless ``template.parse_reply`` gives back exactly its
    content, reasoning and tool calls, and ``template.reply_stream`` does the same for
    the text cut in pieces of 1, 2, 3 and 7 characters and in two at every position.
    Give conversations with reasoning if the template renders it. Returns how many
    answers were checked (0: the template parses no replies)."""
    if not isinstance(template, ParsesReplies):
        return 0
    calls = (_TOOL_CALL,) if getattr(template, "supports_tools", None) is True else ()
    samples = [conversation for sample, conversation in _samples(template, calls)
               if sample in _REPLY_SAMPLES]
    checked = 0
    for conversation in [*samples, *conversations]:
        answer = conversation.messages[-1]
        if answer.role == "assistant":
            text = generated_reply(template, conversation)
            check_reply(template, text, Reply(answer.content, answer.reasoning,
                                              answer.tool_calls))
            checked += 1
    return checked


def check_reply(parser: ParsesReplies, text: str, expected: Reply) -> None:
    """Raise ``AssertionError`` unless ``parser`` (a template, or a
    :class:`~plugtune.sdk.templates.replies.ReplyFormat`) reads ``text`` as ``expected``
    whole and streamed in any pieces, each delta carrying exactly one thing."""
    parsed = parser.parse_reply(text)
    assert parsed == expected, f"{text!r} parses as {parsed}, not {expected}"
    for pieces in _cuts(text):
        stream = parser.reply_stream()
        deltas = [*(delta for piece in pieces for delta in stream.feed(piece)),
                  *stream.finish()]
        joined = join_deltas(deltas)
        assert joined == expected, f"{pieces!r} streamed give {joined}, not {expected}"
        for delta in deltas:
            kinds = [bool(delta.content), bool(delta.reasoning), delta.tool_call is not None]
            assert kinds.count(True) == 1, f"{pieces!r}: {delta} must carry one thing"


def generated_reply(template: Any, conversation: Conversation) -> str:
    """What the model generates for the last answer of ``conversation``: its rendering
    after the generation prompt, up to the first of the template's stop strings."""
    prompt = Conversation(conversation.messages[:-1], tools=conversation.tools)
    head = template.render(prompt, add_generation_prompt=True)
    full = template.render(conversation)
    assert full.startswith(head), (
        f"template {template.name!r}: the conversation does not start with its prompt "
        f"and generation prompt {head[-40:]!r}")
    text = full[len(head):]
    ends = [text.find(stop) for stop in template.stop_strings if stop in text]
    return text[: min(ends, default=len(text))]


def _cuts(text: str) -> Iterator[list[str]]:
    for size in (1, 2, 3, 7):
        yield [text[start:start + size] for start in range(0, len(text), size)]
    for position in range(len(text) + 1):
        yield [text[:position], text[position:]]


def _samples(
    template: Any, extra: tuple[tuple[str, Conversation, str], ...] = ()
) -> Iterator[tuple[str, Conversation]]:
    for sample, conversation, needs in (*SAMPLES, *extra):
        supported = getattr(template, f"supports_{needs}", None) if needs else True
        if supported is False:
            continue
        if supported is None:  # unknown: try it
            try:
                template.segments(conversation)
            except ValueError:
                continue
        yield sample, conversation


def _check_sample(template: Any, where: str, conversation: Conversation, prompt: bool) -> None:
    where += " with a generation prompt" if prompt else ""
    segments = template.segments(conversation, add_generation_prompt=prompt)
    assert all(isinstance(s, Segment) for s in segments), f"{where}: segments must be Segments"
    joined = "".join(s.text for s in segments)
    rendered = template.render(conversation, add_generation_prompt=prompt)
    assert joined == rendered, (
        f"{where}: segments join to\n{joined!r}\nbut render() gives\n{rendered!r}"
    )
    messages = conversation.messages
    for segment in segments:
        if segment.trainable:
            index = segment.message
            assert 0 <= index < len(messages) and messages[index].role == "assistant", (
                f"{where}: trainable text {segment.text!r} belongs to message {index}, "
                "not to an assistant message (prompts, headers and generation prompts "
                "must not be trained)"
            )
    generation_prompt = _generation_prompt(template, conversation)
    for index, message in enumerate(messages):
        if message.role != "assistant":
            continue
        trained = [s.text for s in segments if s.trainable and s.message == index]
        assert trained, f"{where}: assistant message {index} has no trainable segment"
        assert trained[-1].endswith(template.stop_strings), (
            f"{where}: the trainable text of assistant message {index} ends with "
            f"{trained[-1][-30:]!r}, not with a stop string {template.stop_strings}: the "
            "model would never learn to stop"
        )
        assert not generation_prompt or not trained[0].startswith(generation_prompt), (
            f"{where}: assistant message {index} trains its header {generation_prompt!r}"
        )


def _generation_prompt(template: Any, conversation: Conversation) -> str:
    """What ``add_generation_prompt`` adds after the prompt part of ``conversation``."""
    messages = conversation.messages
    while messages and messages[-1].role == "assistant":
        messages = messages[:-1]
    prompt = Conversation(messages, conversation.tools)
    segments = template.segments(prompt, add_generation_prompt=True)
    tail = []
    for segment in reversed(segments):
        if 0 <= segment.message < len(messages):
            break
        tail.append(segment.text)
    if tail:
        return "".join(reversed(tail)).strip()
    without = template.render(prompt)
    with_prompt = "".join(segment.text for segment in segments)
    return with_prompt[len(without) :].strip() if with_prompt.startswith(without) else ""
