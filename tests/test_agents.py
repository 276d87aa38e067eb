"""Tool episodes (plugtune.agents) and the built-in environments, without a model: the
calculator's arithmetic, calling tools safely, the episode loop driven by the qwen2
template, and which environment a record gets."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest

from plugtune.agents.environments import Episodes
from plugtune.agents.episode import Episode
from plugtune.agents.playing import play
from plugtune.agents.toolbox import Toolbox, toolbox_for
from plugtune.core.config import AgentConfig
from plugtune.core.errors import ConfigError
from plugtune.core.records import Conversation, Message, RecordError, ToolCall
from plugtune.core.session import Session
from plugtune.plugins.environments.arithmetic import ExpressionError, evaluate, written
from plugtune.plugins.environments.calculator import Calculator
from plugtune.sdk.environments import tool_from_function

SESSION = Session()
QWEN2 = SESSION.build("templates", "qwen2")
CALL = '<tool_call>\n{{"name": "{name}", "arguments": {arguments}}}\n</tool_call>'


def question(text: str = "What is 347 * 28?", **meta: object) -> Conversation:
    return Conversation((Message("user", text),), meta=meta, origin="q.jsonl:1")


def calculator_episode(max_tool_calls: int = 2, **options: object) -> Episode:
    calculator = Calculator()
    return Episode(question(), QWEN2, toolbox_for(calculator, [], timeout=5.0),
                   max_tool_calls=max_tool_calls, environment=calculator)


def call(name: str = "calculate", arguments: str = '{"expression": "347 * 28"}') -> str:
    return CALL.format(name=name, arguments=arguments)


# The calculator's arithmetic


@pytest.mark.parametrize(("expression", "value"), [
    ("347 * 28", "9716"), ("0.1 + 0.2", "0.3"), ("7 / 4", "1.75"), ("1 / 3", "0.333333"),
    ("2 ^ 10", "1024"), ("12 × 3 − 6", "30"), ("84 ÷ 4", "21"), ("1,234 + 1", "1235"),
    ("-(3 - 5) * 2", "4"), ("17 // 5 + 17 % 5", "5"), ("-1 / 8", "-0.125"),
])
def test_calculator_is_exact(expression: str, value: str) -> None:
    assert Calculator().calculate(expression) == value


@pytest.mark.parametrize(("expression", "problem"), [
    ("__import__('os')", "only numbers"), ("1 / 0", "division by zero"),
    ("2 ** 100000", "exponents"), ("", "empty"), ("3 +", "not an arithmetic"),
    ("True + 1", "only numbers"), ("9 ** 9 ** 9", "exponents"),
])
def test_calculator_refuses_what_it_cannot_compute(expression: str, problem: str) -> None:
    with pytest.raises(ExpressionError, match=problem):
        evaluate(expression)
    assert Calculator().calculate(expression).startswith("error: ")


def test_precision_applies_only_to_fractions_that_do_not_terminate() -> None:
    assert written(Fraction(2, 3), 2) == "0.67"
    assert written(Fraction(1, 1024), 2) == "0.0009765625"  # terminates: every digit


# Calling tools


def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


def fails(text: str) -> str:
    """Always fails.

    Args:
        text: Anything.
    """
    raise ValueError(f"cannot handle {text}")


def test_a_tool_is_described_by_its_hints_and_docstring() -> None:
    schema = tool_from_function(add).schema["function"]
    assert schema["name"] == "add" and schema["description"] == "Add two numbers."
    assert schema["parameters"]["properties"]["a"] == {"type": "integer",
                                                      "description": "The first number."}


def test_an_undocumented_tool_is_an_error_naming_it() -> None:
    def bare(x):  # type: ignore[no-untyped-def]
        return x

    with pytest.raises(ConfigError, match="tool bare: .*Google-style docstring"):
        tool_from_function(bare)


def test_calls_that_go_wrong_become_tool_messages() -> None:
    box = Toolbox([tool_from_function(add), tool_from_function(fails)], timeout=5.0)
    assert box.call(ToolCall("add", {"a": 2, "b": 3})).text == "5"
    assert box.call(ToolCall("add", '{"a": 2, "b": 3}')).text == "5"  # JSON text arguments
    unknown = box.call(ToolCall("mul", {"a": 2}))
    assert unknown.error == "unknown_tool" and "tools: add, fails" in unknown.text
    missing = box.call(ToolCall("add", {"a": 2}))
    assert missing.error == "bad_arguments" and "'b'" in missing.text
    assert box.call(ToolCall("add", "[1, 2]")).error == "bad_arguments"
    raised = box.call(ToolCall("fails", {"text": "x"}))
    assert raised.error == "raised" and raised.text == "error: ValueError: cannot handle x"


def test_a_tool_that_hangs_times_out_and_the_episode_goes_on() -> None:
    release = threading.Event()

    def wait(seconds: float) -> str:
        """Wait.

        Args:
            seconds: How long.
        """
        release.wait()
        return "done"

    box = Toolbox([tool_from_function(wait), tool_from_function(add)], timeout=0.2)
    try:
        outcome = box.call(ToolCall("wait", {"seconds": 1e9}))
        assert outcome.error == "timeout" and "did not finish within 0.2 s" in outcome.text
        assert box.call(ToolCall("add", {"a": 1, "b": 1})).text == "2"
    finally:
        release.set()


def test_two_tools_with_one_name_are_refused() -> None:
    with pytest.raises(ConfigError, match="two tools are named 'add'"):
        Toolbox([tool_from_function(add), tool_from_function(add)], timeout=1.0)


# One episode, driven by the qwen2 template


def test_the_template_renders_the_tools_and_reads_the_call_back() -> None:
    episode = calculator_episode()
    assert '"name": "calculate"' in episode.prompt() and "<tools>" in episode.prompt()
    assert episode.reply(call()) is True
    assert episode.turns[-1] == Message("tool", "9716", name="calculate")
    assert episode.continuation() == (
        "\n<|im_start|>user\n<tool_response>\n9716\n</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n")
    assert episode.reply("9716") is False
    summary = episode.summary()
    assert (summary["stopped"], summary["answer"], summary["tool_calls"]) == ("answer", "9716", 1)
    assert summary["calls"] == [{"name": "calculate", "arguments": {"expression": "347 * 28"},
                                 "result": "9716"}]


def test_the_continuation_joins_the_generated_text_to_the_next_prompt() -> None:
    episode = calculator_episode()
    start = episode.prompt()
    episode.reply(call())
    # What the model generated, its end-of-turn token, then the continuation: the prompt
    # of its next turn as the template renders the whole conversation.
    assert start + call() + "<|im_end|>" + episode.continuation() == episode.prompt()


def test_a_malformed_call_is_a_parse_failure_and_ends_the_episode() -> None:
    episode = calculator_episode()
    assert episode.reply('<tool_call>\n{"name": "calculate", "arguments": {oops\n</tool_call>') \
        is False
    assert episode.parse_failures == 1 and episode.stopped == "answer"
    assert episode.outcomes == []


def test_calls_past_max_tool_calls_end_the_episode_unrun() -> None:
    episode = calculator_episode(max_tool_calls=1)
    assert episode.reply(call()) is True
    assert episode.reply(call(arguments='{"expression": "1 + 1"}')) is False
    assert episode.stopped == "max_tool_calls" and len(episode.outcomes) == 1


def test_an_unknown_tool_is_told_to_the_model_and_the_episode_goes_on() -> None:
    episode = calculator_episode()
    assert episode.reply(call(name="multiply")) is True
    assert episode.summary()["tool_errors"] == {"unknown_tool": 1}
    assert "there is no tool 'multiply' (tools: calculate)" in episode.turns[-1].content


def test_a_template_that_reads_no_calls_is_refused() -> None:
    with pytest.raises(ConfigError, match="template 'chatml' cannot render tools"):
        Episode(question(), SESSION.build("templates", "chatml"), Toolbox([], 1.0),
                max_tool_calls=1)


def test_play_batches_the_episodes_still_going() -> None:
    scripts: dict[str, Iterator[str]] = {
        "What is 347 * 28?": iter([call(), "9716"]),
        "Hello?": iter(["Hi."]),
    }
    batches: list[int] = []

    def generate(conversations: list[Conversation]) -> list[str]:
        batches.append(len(conversations))
        return [next(scripts[c.messages[0].content]) for c in conversations]

    episodes = [Episode(question(text), QWEN2, toolbox_for(Calculator(), [], 5.0),
                        max_tool_calls=2) for text in scripts]
    play(episodes, generate)
    assert batches == [2, 1]
    assert [e.answer for e in episodes] == ["9716", "Hi."]


# Which environment a record gets


class Counter:
    """Counts calls; owns its reward; greets at reset."""

    def __init__(self) -> None:
        self.count = 0
        self.target = 0

    def reset(self, **columns: object) -> str:
        self.count, self.target = 0, int(columns["target"])  # type: ignore[call-overload]
        return f" (reach {self.target})"

    def increment(self) -> int:
        """Add one to the counter."""
        self.count += 1
        return self.count

    def get_reward(self) -> float:
        return float(self.count == self.target)


class CounterPlugin:
    from plugtune.core.hookspecs import hookimpl

    @hookimpl
    def register_environments(self, register):  # type: ignore[no-untyped-def]
        register("counter", Counter)


def test_a_record_picks_its_environment_and_the_environment_its_reward() -> None:
    session = Session(plugins=[CounterPlugin()])
    episodes = Episodes(AgentConfig(environment="calculator"), session, QWEN2)
    mine = episodes.start(question("Count.", environment="counter"), {"target": 1})
    assert mine.start.messages[-1].content == "Count. (reach 1)"
    assert [t["function"]["name"] for t in mine.start.tools] == ["increment"]
    assert mine.reply(call(name="increment", arguments="{}")) is True
    assert mine.environment_reward() == 1.0
    default = episodes.start(question(), {})
    assert [t["function"]["name"] for t in default.start.tools] == ["calculate"]
    assert default.environment_reward() is None


def test_an_unknown_environment_in_a_record_names_the_record() -> None:
    episodes = Episodes(AgentConfig(environment="calculator"), SESSION, QWEN2)
    with pytest.raises(RecordError, match="q.jsonl:1: environment: .*'abacus'"):
        episodes.names([question(environment="abacus")])


def test_plain_tools_and_python_functions(tmp_path: Path) -> None:
    module = tmp_path / "my_tools.py"
    module.write_text('def shout(text: str) -> str:\n    """Shout.\n\n    Args:\n'
                      '        text: What to shout.\n    """\n    return text.upper()\n')
    plain = Episodes(AgentConfig(tools=[f"{module}:shout"]), SESSION, QWEN2)
    episode = plain.start(question(), {})
    assert episode.reply(call(name="shout", arguments='{"text": "hi"}')) is True
    assert episode.turns[-1].content == "HI"
    named = Episodes(AgentConfig(environment={"name": "python_functions",
                                              "module": str(module)}), SESSION, QWEN2)
    assert [t["function"]["name"] for t in named.start(question(), {}).start.tools] == ["shout"]


def test_an_agent_section_without_tools_is_an_error() -> None:
    with pytest.raises(ConfigError, match="agent: name an environment or tools"):
        Episodes(AgentConfig(), SESSION, QWEN2)
    with pytest.raises(ConfigError, match="names no function"):
        Episodes(AgentConfig(tools=["my_tools.py"]), SESSION, QWEN2)


# The SDK's check for an environment's author


def test_check_environment_gives_the_tools_a_run_would_offer() -> None:
    from plugtune.sdk.testing import check_environment

    schemas = check_environment(Counter, [{"target": 1}, {"target": 3}])
    assert [s["function"]["name"] for s in schemas] == ["increment"]
    assert check_environment(Calculator)[0]["function"]["name"] == "calculate"


class ResetsWithANumber(Counter):
    def reset(self, **columns: object) -> str:
        return 3  # type: ignore[return-value]


class ScoresNothing(Counter):
    def get_reward(self) -> float:
        return float("nan")


class UndocumentedTool(Counter):
    def decrement(self, by: int) -> int:
        return self.count - by


class NoTools:
    def reset(self, **columns: object) -> None:
        return None


@pytest.mark.parametrize(("environment", "problem"), [
    (ResetsWithANumber, "record 0 .*reset returned int"),
    (ScoresNothing, r"record 0 .*get_reward\(\) gave nan"),
    (NoTools, "NoTools offers no tools"),
])
def test_check_environment_names_what_a_run_would_trip_on(environment: type,
                                                          problem: str) -> None:
    from plugtune.sdk.testing import check_environment

    with pytest.raises(AssertionError, match=problem):
        check_environment(environment, [{"target": 2}])


def test_check_environment_refuses_an_undocumented_tool_as_a_run_would() -> None:
    from plugtune.sdk.testing import check_environment

    with pytest.raises(ConfigError, match="tool decrement"):
        check_environment(UndocumentedTool, [{"target": 2}])
