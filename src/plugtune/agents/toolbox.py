"""The tools of one episode, and calling them safely.

What a tool is, and which of an environment's methods are tools, is the SDK's rule
(:mod:`plugtune.sdk.environments`), so an environment's author can check it in their own
tests (:func:`plugtune.sdk.testing.check_environment`). A call never raises into the run:
an unknown name, arguments that do not fit, an exception, or a tool still running after
``timeout`` seconds each become an ``error: …`` tool message the model reads, and a
:class:`ToolOutcome` whose ``error`` names what happened for the episode log.
"""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from plugtune.core.errors import ConfigError
from plugtune.core.records import ToolCall
from plugtune.sdk.environments import Tool, environment_tools, tool_from_function


@dataclass(frozen=True)
class ToolOutcome:
    """What a call gave: the tool message's text, and ``error`` (None when it worked;
    else ``unknown_tool``, ``bad_arguments``, ``raised`` or ``timeout``)."""

    call: ToolCall
    text: str
    error: str | None = None


class Toolbox:
    """The tools of one episode by name; ``call`` answers a :class:`ToolCall`."""

    def __init__(self, tools: Iterable[Tool], timeout: float) -> None:
        self.tools: dict[str, Tool] = {}
        for tool in tools:
            if tool.name in self.tools:
                raise ConfigError(f"two tools are named {tool.name!r}; rename one")
            self.tools[tool.name] = tool
        self.timeout = timeout

    @property
    def schemas(self) -> tuple[Mapping[str, Any], ...]:
        return tuple(tool.schema for tool in self.tools.values())

    def call(self, call: ToolCall) -> ToolOutcome:
        tool = self.tools.get(call.name)
        if tool is None:
            known = ", ".join(self.tools) or "none"
            return ToolOutcome(call, f"error: there is no tool {call.name!r} (tools: {known})",
                               "unknown_tool")
        arguments = _arguments(call.arguments)
        problem = _misfit(tool.function, arguments)
        if problem:
            return ToolOutcome(call, f"error: {call.name}: {problem}", "bad_arguments")
        return _run(call, tool.function, arguments, self.timeout)


def _arguments(given: Any) -> Any:
    if isinstance(given, str):  # some formats write the arguments as a JSON string
        try:
            return json.loads(given) if given.strip() else {}
        except ValueError:
            return given
    return given


def _misfit(function: Callable[..., Any], arguments: Any) -> str | None:
    if not isinstance(arguments, Mapping):
        return f"the arguments must be a JSON object, got {arguments!r}"
    try:
        inspect.signature(function).bind(**arguments)
    except TypeError as error:
        return str(error)
    return None


def _run(call: ToolCall, function: Callable[..., Any], arguments: Mapping[str, Any],
         timeout: float) -> ToolOutcome:
    """Call in a daemon thread and wait at most ``timeout`` seconds. A hung tool cannot
    be killed from Python: its thread is left behind (daemon: it never holds the process
    open) and the episode goes on with a timeout message."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = function(**arguments)
        except Exception as error:  # the tool's own failure is the model's to read
            result["error"] = f"{type(error).__name__}: {error}"

    thread = threading.Thread(target=target, name=f"tool-{call.name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return ToolOutcome(call, f"error: {call.name} did not finish within {timeout:g} s",
                           "timeout")
    if "error" in result:
        return ToolOutcome(call, f"error: {result['error']}", "raised")
    return ToolOutcome(call, as_text(result.get("value")))


def as_text(value: Any) -> str:
    """A tool's return value as its message: text as is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def toolbox_for(environment: object | None, functions: Sequence[Callable[..., Any]],
                timeout: float) -> Toolbox:
    """An episode's tools: its environment's and the run's plain ``tools``."""
    tools = [tool_from_function(f) for f in functions]
    if environment is not None:
        tools = environment_tools(environment) + tools
    return Toolbox(tools, timeout)
