"""Reading replies back: each family's template parses what it renders (content,
reasoning, tool calls) exactly, whole and streamed in pieces of any size; malformed
calls stay text; a request's template options configure a copy of the template."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from plugtune import Session
from plugtune.core.records import Conversation, Message, ToolCall
from plugtune.sdk.templates import (
    THINK,
    GLM4Calls,
    JsonCalls,
    ParsesReplies,
    Reply,
    ReplyDelta,
    ReplyFormat,
    ReplyStream,
    TaggedCalls,
    TemplateOptionsError,
    ThinkBlock,
    WholeReplyCalls,
    with_template_options,
)
from plugtune.sdk.testing import check_reply, check_reply_parsing, generated_reply

SESSION = Session()
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
CALL = ToolCall("get_weather", {"city": "Paris", "unit": "°C", "days": [1, 2]})
SECOND = ToolCall("get_time", {"zone": "Europe/Paris"})
QUESTION = Message("user", "Weather in Paris?")
BUILT_IN = SESSION.registry("templates").names()


@dataclass(frozen=True)
class Case:
    """A conversation's last answer, rendered by ``template``, read back as ``expected``
    (by default the answer's own content, reasoning and calls)."""

    template: str
    answer: Message
    history: tuple[Message, ...] = (QUESTION,)
    tools: tuple[dict, ...] = (WEATHER,)
    options: dict = field(default_factory=dict)
    expected: Reply | None = None

    @property
    def reply(self) -> Reply:
        answer = self.answer
        return self.expected or Reply(answer.content, answer.reasoning, answer.tool_calls)

    def __str__(self) -> str:
        return f"{self.template}:{self.answer}"


def build(name: str, **options: object):
    return SESSION.build("templates", {"name": name, **options})


def generated_part(case: Case) -> str:
    return generated_reply(build(case.template, **case.options),
                           Conversation((*case.history, case.answer), tools=case.tools))


def plain(name: str, content: str = "Plain answer.\nGrüße, 你好 {not json}") -> Case:
    return Case(name, Message("assistant", content), tools=())


CALLED = (QUESTION, Message("assistant", "", tool_calls=(CALL,)),
          Message("tool", '{"temperature": 21}', name="get_weather"))
CASES = [
    *(plain(name) for name in BUILT_IN),
    Case("qwen", Message("assistant", "", tool_calls=(CALL,))),
    Case("qwen", Message("assistant", "Let me look.", tool_calls=(CALL, SECOND))),
    Case("qwen", Message("assistant", "", tool_calls=(ToolCall("run", "print('{')"),))),
    Case("qwen2", Message("assistant", "Ends in a newline\n", tool_calls=(CALL,))),
    Case("qwen", Message("assistant", "It is 21 degrees."), history=CALLED),
    Case("qwen3", Message("assistant", "It is sunny.", reasoning="The user asks.\nLook.")),
    Case("qwen3", Message("assistant", "Checking.", tool_calls=(CALL,), reasoning="A tool.")),
    Case("qwen3", Message("assistant", "", tool_calls=(CALL, SECOND), reasoning="Two.")),
    Case("qwen3", Message("assistant", "Answer.\n\nMore.", reasoning="a\n\nb <think>")),
    Case("qwen3", Message("assistant", "It is 21 degrees.", reasoning="21."), history=CALLED),
    Case("qwen3", Message("assistant", "Sure.", tool_calls=(CALL,)),
         options={"enable_thinking": False}),
    # Qwen3 writes string arguments raw: an OpenAI-style JSON string reads back as a dict.
    Case("qwen3", Message("assistant", "", tool_calls=(ToolCall("f", '{"a": 1}'),)),
         expected=Reply("", None, (ToolCall("f", {"a": 1}),))),
    Case("llama3.1", Message("assistant", "", tool_calls=(CALL,))),
    # Llama 3.1 does not render a calling turn's text.
    Case("llama3.1", Message("assistant", "Dropped.", tool_calls=(SECOND,)),
         expected=Reply("", None, (SECOND,))),
    Case("llama3.1", Message("assistant", "It is 21 degrees."), history=CALLED),
    Case("glm4", Message("assistant", "", tool_calls=(CALL,))),
    Case("glm4", Message("assistant", "Let me look.", tool_calls=(CALL, SECOND))),
    Case("glm4", Message("assistant", "It is 21 degrees."), history=CALLED),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_template_reads_back_exactly_what_it_renders_whole_and_streamed(case):
    # Streamed: in pieces of 1, 2, 3, 7 characters and in two at every position.
    template = build(case.template, **case.options)
    assert isinstance(template, ParsesReplies)
    check_reply(template, generated_part(case), case.reply)


def test_the_families_are_all_there():
    assert {"qwen", "qwen3", "llama3.1", "glm4", "deepseek-r1", "mistral"} <= set(BUILT_IN)


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_template_passes_the_plugin_authors_check(name):
    template = build(name)
    assert check_reply_parsing(template) >= 3


def test_the_check_fails_a_template_that_misreads_its_calls():
    qwen = type(build("qwen"))

    class Forgetful(qwen):  # renders <tool_call> blocks, reads them as text
        reply_format = ReplyFormat()

    with pytest.raises(AssertionError, match="parses as"):
        check_reply_parsing(Forgetful())

    class WholeOnly:  # parses the think block whole, streams it as content
        def parse_reply(self, text: str) -> Reply:
            return ReplyFormat(think=THINK).parse_reply(text)

        def reply_stream(self) -> ReplyStream:
            return ReplyFormat().reply_stream()

    with pytest.raises(AssertionError, match="streamed give"):
        check_reply(WholeOnly(), "<think>a</think>b", Reply("b", "a"))


def test_the_round_trips_see_the_formats():
    # Not vacuous: the generated parts hold the markers the parsers remove.
    texts = {str(case): generated_part(case) for case in CASES}
    assert any('<tool_call>\n{"name": "get_weather"' in text for text in texts.values())
    assert any(text.startswith("<think>\nThe user asks.") for text in texts.values())
    assert any(text.startswith('{"name": "get_weather", "parameters"') for text in texts.values())
    assert any(text.startswith("\nLet me look.<|assistant|>get_weather\n{")
               for text in texts.values())


def test_deepseek_r1_reads_the_think_block_its_model_writes():
    # Its template keeps only what follows </think>, so the text is written as R1 does.
    template = build("deepseek-r1")
    text = "<think>\nFirst, 2+2.\nIt is 4.\n</think>\n\nThe answer is 4."
    expected = Reply("The answer is 4.", "First, 2+2.\nIt is 4.")
    check_reply(template, text, expected)
    check_reply(template, "No thinking.", Reply("No thinking."))


def test_a_stream_gives_text_as_soon_as_it_is_certain():
    stream = ReplyFormat(think=THINK, calls=TaggedCalls()).reply_stream()
    assert stream.feed("<thi") == []  # may open the block
    assert stream.feed("nk>\nstep one\n") == [ReplyDelta(reasoning="step one")]
    assert stream.feed("step two</th") == [ReplyDelta(reasoning="\nstep two")]
    assert stream.feed("ink>\n\n") == []  # the newlines before the content are the format's
    assert stream.feed("Sunny") == [ReplyDelta(content="Sunny")]
    assert stream.feed(" today.\n<tool_") == [ReplyDelta(content=" today.")]
    assert stream.feed('call>\n{"name": "f", "arguments": {}}\n</tool_') == []
    assert stream.feed("call> bye") == [ReplyDelta(tool_call=ToolCall("f", {})),
                                         ReplyDelta(content=" bye")]
    assert stream.finish() == []


def test_held_back_text_that_is_no_marker_comes_out():
    stream = ReplyFormat(calls=TaggedCalls()).reply_stream()
    assert stream.feed("a <tool") == [ReplyDelta(content="a ")]
    assert stream.feed("box>") == [ReplyDelta(content="<toolbox>")]
    assert stream.feed("\n") == []
    assert stream.finish() == [ReplyDelta(content="\n")]


def test_llama_and_glm_calls_are_held_only_while_the_reply_may_be_one():
    llama = build("llama3.1").reply_stream()
    assert llama.feed('{"name": "f", "par') == []
    text = '{"name": "f", "parameters": {}} and'
    assert llama.feed(text[len('{"name": "f", "par'):]) == [ReplyDelta(content=text)]
    assert build("llama3.1").reply_stream().feed("Hello") == [ReplyDelta(content="Hello")]
    glm = build("glm4").reply_stream()
    assert glm.feed("get_weather") == []
    assert glm.feed('\n{"city": "Paris"}<|assis') == []
    call = ToolCall("get_weather", {"city": "Paris"})
    assert glm.feed("tant|>\nDone") == [ReplyDelta(tool_call=call), ReplyDelta(content="Done")]
    assert build("glm4").reply_stream().feed("\nHi") == [ReplyDelta(content="Hi")]


MALFORMED = {
    "qwen3": [
        '<tool_call>\n{"name": "f", "arguments": {bad json}\n</tool_call>',
        '<tool_call>\n{"name": "f", "arguments": {}}',  # never closed
        '<tool_call>\n["not", "a", "call"]\n</tool_call>',
        '<tool_call>\n{"name": "f", "arguments": 3}\n</tool_call>',
        '<tool_call>\n{"name": "f", "arguments": {}, "extra": 1}\n</tool_call>',
        "a reply that ends in <tool_ca",
        "a reply that ends in a newline\n",
        "<thin",
        "</think> closes nothing",
    ],
    "qwen": ["<think>not a reasoning family</think>", "ends in \n<tool_call"],
    "llama3.1": ['{"name": "f"} and more', '{"a": 1}', '{"name": "f", "parameters": {}',
                 '{"name": 1, "parameters": {}}', "<|python_tag|>not json", "{bad", "<|pyth"],
    "glm4": ["get_weather\n{bad json}", "get_weather\n[1, 2]", "get_weather", "no newline",
             "a sentence, not a name\n{}", '\nText<|assistant|>f\n{"a": oops}', "\nText<|assist"],
}


@pytest.mark.parametrize(("name", "text"),
                         [(name, text) for name, texts in MALFORMED.items() for text in texts])
def test_malformed_calls_stay_text_and_nothing_is_lost(name, text):
    template = build(name)
    expected = template.parse_reply(text)
    assert expected.tool_calls == () and expected.reasoning is None
    # All of it (GLM-4's content item starts with an empty metadata line: not content).
    assert expected.content == (text[1:] if name == "glm4" and text.startswith("\n") else text)
    check_reply(template, text, expected)


def test_a_broken_call_keeps_its_neighbours():
    text = ('Two.\n<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call>\n'
            "<tool_call>\n{oops}\n</tool_call>")
    expected = Reply("Two.\n<tool_call>\n{oops}\n</tool_call>", None, (ToolCall("f", {}),))
    check_reply(build("qwen"), text, expected)
    glm = '\nOk<|assistant|>f\n{"a": 1}<|assistant|>g\nnope'
    expected = Reply("Ok<|assistant|>g\nnope", None, (ToolCall("f", {"a": 1}),))
    check_reply(build("glm4"), glm, expected)


def test_reasoning_never_closed_is_reasoning():
    # It was streamed as reasoning already (a reply cut by max_tokens).
    assert build("qwen3").parse_reply("<think>\nstill thinking\n") == Reply("", "still thinking")


def test_a_prompt_that_opens_the_block_starts_the_reply_in_it():
    opened = ReplyFormat(think=ThinkBlock(opened_by_prompt=True), calls=TaggedCalls())
    text = 'Think.\n</think>\n\nDone.\n<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call>'
    expected = Reply("Done.", "Think.", (ToolCall("f", {}),))
    check_reply(opened, text, expected)
    check_reply(opened, "<think>\nAgain.</think>Yes", Reply("Yes", "Again."))
    check_reply(opened, "Cut short", Reply("", "Cut short"))


def test_a_plugin_composes_its_own_format_from_the_blocks():
    mine = ReplyFormat(think=ThinkBlock("[R]", "[/R]"),
                       calls=TaggedCalls("[CALL]", "[/CALL]", separator=" "))
    text = '[R]why[/R]So [CALL]{"name": "f", "arguments": {"x": "[/R]"}}[/CALL]'
    expected = Reply("So", "why", (ToolCall("f", {"x": "[/R]"}),))
    check_reply(mine, text, expected)

    def could_be(start: str) -> bool:
        return "search(".startswith(start) or start.startswith("search(")

    def read(reply: str) -> list[ToolCall] | None:
        whole = reply.startswith("search(") and reply.endswith(")")
        return [ToolCall("search", {"q": reply[7:-1]})] if whole else None

    searches = ReplyFormat(calls=WholeReplyCalls(could_be, read))
    cats = Reply("", None, (ToolCall("search", {"q": "cats"}),))
    check_reply(searches, "search(cats)", cats)
    check_reply(searches, "sea lions", Reply("sea lions"))
    check_reply(searches, "search(unclosed", Reply("search(unclosed"))
    assert searches.reply_stream().feed("sea") == []
    assert searches.reply_stream().feed("seal") == [ReplyDelta(content="seal")]


def test_the_blocks_read_their_formats_alone():
    assert JsonCalls().reader().read('<|python_tag|>{"name": "f", "parameters": {"a": 1}}; '
                                     '{"name": "g", "arguments": {}}', True)[0] == [
        ReplyDelta(tool_call=ToolCall("f", {"a": 1})), ReplyDelta(tool_call=ToolCall("g", {}))]
    assert GLM4Calls().reader().read("f\n{}", False) == ([], "{}")


def test_request_options_configure_a_copy_of_the_template():
    template = build("qwen3")
    quiet = with_template_options(template, {"enable_thinking": False})
    prompt = Conversation((Message("user", "hi"),))
    assert quiet.render(prompt, add_generation_prompt=True) == (
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert template.render(prompt, add_generation_prompt=True).endswith("assistant\n")
    assert (template.enable_thinking, quiet.enable_thinking) == (True, False)
    assert with_template_options(template, {}) is template
    dated = build("llama3.1", date_string="1 Jan 2025")
    assert with_template_options(dated, {"date_string": "2 Jan 2025"}).date_string == "2 Jan 2025"


@pytest.mark.parametrize(("name", "options", "message"), [
    ("qwen3", {"enable_thinkng": False},
     "template 'qwen3' takes no option 'enable_thinkng' (did you mean 'enable_thinking'?); "
     "it takes: default_system, enable_thinking"),
    ("qwen3", {"wizard": 1}, "takes no option 'wizard'; it takes: default_system, enable_thinking"),
    ("qwen3", {"enable_thinking": "maybe"}, "enable_thinking: Input should be a valid boolean"),
    ("qwen", {"enable_thinking": False},
     "template 'qwen' takes no option 'enable_thinking'; it takes: default_system"),
])
def test_request_options_a_template_does_not_take_are_named(name, options, message):
    with pytest.raises(TemplateOptionsError, match=re.escape(message)) as raised:
        with_template_options(build(name), options)
    assert isinstance(raised.value, ValueError)


def test_hf_takes_any_jinja_variable():
    source = "{{ 'on' if enable_thinking is defined and not enable_thinking else 'off' }}"
    template = build("hf", chat_template=source, stop_strings=["</s>"])
    configured = with_template_options(template, {"enable_thinking": False})
    prompt = Conversation((Message("user", "hi"),))
    assert (template.render(prompt), configured.render(prompt)) == ("off", "on")


def test_the_sdk_exports_the_reply_api():
    import plugtune.sdk as sdk
    import plugtune.sdk.templates as templates

    exported = (Reply, ReplyDelta, ReplyFormat, ReplyStream, ParsesReplies, ThinkBlock,
                TaggedCalls, JsonCalls, GLM4Calls, WholeReplyCalls, with_template_options,
                TemplateOptionsError)
    for thing in exported:
        assert getattr(sdk, thing.__name__) is thing
        assert getattr(templates, thing.__name__) is thing
