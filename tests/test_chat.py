"""``plugtune chat``: history, /commands and streaming, driven through stdin."""

from __future__ import annotations

import json
import textwrap

from click.testing import CliRunner

from plugtune.cli import cli
from plugtune.core.records import Conversation, Message
from plugtune.inference.chat import ChatSession
from plugtune.sdk.cli import CliState

RECORDER = '''
import json

from pydantic import BaseModel

from plugtune.core.hookspecs import hookimpl


class RecorderOptions(BaseModel):
    log: str
    adapters: bool = False


class Recorder:
    """Answers "echo: <last user message>" in two pieces; logs each call as JSON."""

    batch_size = 1

    def __init__(self, log, adapters=False):
        self.log, self.adapter = log, None
        if not adapters:
            self.use_adapter = None

    def load(self, config, session):
        pass

    def generate(self, conversations, params=None):
        return ["".join(self.stream(c, params)) for c in conversations]

    def stream(self, conversation, params=None):
        with open(self.log, "a", encoding="utf-8") as out:
            out.write(json.dumps({"messages": conversation.to_openai(),
                                  "adapter": self.adapter}) + "\\n")
        last = conversation.messages[-1].content
        if last == "boom":
            from plugtune.core.errors import PlugtuneError
            raise PlugtuneError("the model fell over")
        yield "echo: "
        yield last

    def use_adapter(self, name):
        if name not in (None, "concise"):
            raise KeyError(f"no adapter {name!r}")
        self.adapter = name


@hookimpl
def register_backends(register):
    register("recorder", Recorder, options=RecorderOptions)
'''


def run_chat(tmp_path, lines, *extra, adapters=False):
    plugin = tmp_path / "recorder.py"
    plugin.write_text(textwrap.dedent(RECORDER), encoding="utf-8")
    log = tmp_path / "calls.jsonl"
    config = tmp_path / "run.yaml"
    config.write_text(json.dumps({"backend": {"name": "recorder", "log": str(log),
                                              "adapters": adapters}}), encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["--plugin", str(plugin), "chat", str(config), *extra],
        input="".join(f"{line}\n" for line in lines), obj=CliState(),
    )
    calls = ([json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
             if log.exists() else [])
    return result, calls


def test_history_system_prompt_and_reset(tmp_path):
    lines = ["hello", "/system be brief", "again", "/reset", "fresh", "/exit", "never read"]
    result, calls = run_chat(tmp_path, lines)
    assert result.exit_code == 0, result.output
    assert [call["messages"] for call in calls] == [
        [{"role": "user", "content": "hello"}],
        [{"role": "system", "content": "be brief"},
         {"role": "user", "content": "hello"},
         {"role": "assistant", "content": "echo: hello"},
         {"role": "user", "content": "again"}],
        [{"role": "system", "content": "be brief"},  # /reset keeps the system prompt
         {"role": "user", "content": "fresh"}],
    ]
    assert "echo: hello" in result.output and "echo: fresh" in result.output
    assert "history cleared" in result.output
    assert "never read" not in result.output


def test_system_option_and_removing_the_system_prompt(tmp_path):
    result, calls = run_chat(tmp_path, ["a", "/system", "b"], "--system", "sys")
    assert result.exit_code == 0, result.output
    assert calls[0]["messages"][0] == {"role": "system", "content": "sys"}
    assert [m["role"] for m in calls[1]["messages"]] == ["user", "assistant", "user"]
    assert "system prompt removed" in result.output


def test_a_failed_turn_is_reported_and_leaves_no_trace_in_the_history(tmp_path):
    result, calls = run_chat(tmp_path, ["boom", "after"])
    assert result.exit_code == 0, result.output
    assert "error: the model fell over" in result.output
    assert calls[1]["messages"] == [{"role": "user", "content": "after"}]


def test_adapter_switching(tmp_path):
    lines = ["/adapter concise", "a", "/adapter missing", "/adapter none", "b"]
    result, calls = run_chat(tmp_path, lines, adapters=True)
    assert result.exit_code == 0, result.output
    assert [call["adapter"] for call in calls] == ["concise", None]
    assert "adapter: concise" in result.output
    assert "error: \"no adapter 'missing'\"" in result.output
    other = tmp_path / "other"
    other.mkdir()
    result, calls = run_chat(other, ["/adapter concise"], adapters=False)
    assert "this backend has no adapters" in result.output


def test_unknown_commands_and_end_of_input(tmp_path):
    result, calls = run_chat(tmp_path, ["/frobnicate", "x"])
    assert result.exit_code == 0
    assert "unknown command /frobnicate" in result.output
    assert len(calls) == 1  # end of input ends the chat without an error


def test_chat_session_streams_through_the_writer():
    class Backend:
        def stream(self, conversation, params=None):
            yield from ("a", "b", "c")

    session = ChatSession(Backend(), system="s")
    written = []
    assert session.reply("q", written.append) == "abc"
    assert written == ["a", "b", "c"]
    assert session.conversation() == Conversation(
        (Message("system", "s"), Message("user", "q"), Message("assistant", "abc")),
        origin="chat",
    )


def test_clear_forgets_the_history_like_reset(tmp_path):
    lines = ["/system s", "one", "/clear", "two", "/help"]
    result, calls = run_chat(tmp_path, lines)
    assert result.exit_code == 0, result.output
    assert calls[1]["messages"] == [{"role": "system", "content": "s"},
                                    {"role": "user", "content": "two"}]
    assert "history cleared" in result.output and "/clear" in result.output
    session = ChatSession(None, history=[Message("user", "q")])
    assert session.command("/clear") == "history cleared" and session.history == []
