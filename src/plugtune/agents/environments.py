"""Which environment and tools each episode gets, and its start.

A run's ``agent`` section names a default environment (``environment: calculator``, or
with options ``{name: calculator, precision: 4}``), plain stateless ``tools``
(``file.py:fn``, ``module:fn``) every episode gets, or both; a record may name its own
environment in an ``environment`` column to mix tasks in one run. Environments are built through the
session, so a pip-installed environment plugin is found like any other component.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from plugtune.agents.episode import Episode
from plugtune.agents.toolbox import toolbox_for
from plugtune.core.config import AgentConfig
from plugtune.core.errors import ConfigError
from plugtune.core.importing import import_object
from plugtune.core.interfaces import ChatTemplate, Environment
from plugtune.core.records import Conversation, RecordError
from plugtune.core.session import Session

ENVIRONMENT_COLUMN = "environment"


class Episodes:
    """Starts episodes for records: builds the record's environment, resets it with the
    record's columns and gives the episode its tools."""

    def __init__(self, options: AgentConfig, session: Session, template: ChatTemplate) -> None:
        self.options = options
        self.session = session
        self.template = template
        if options.environment is None and not options.tools:
            raise ConfigError("agent: name an environment or tools (or leave the section out)")
        self.functions: list[Callable[..., Any]] = [_function(ref) for ref in options.tools]
        if options.environment is not None:
            session.component("environments", options.environment)  # unknown: fail now

    def names(self, records: Sequence[Conversation]) -> None:
        """Check every environment the records name exists, before anything trains."""
        for record in records:
            name = record.meta.get(ENVIRONMENT_COLUMN)
            if name is not None:
                try:
                    self.session.component("environments", str(name))
                except Exception as error:
                    raise RecordError(record.origin, ENVIRONMENT_COLUMN, str(error)) from None

    def describe(self) -> str:
        """The default environment and the tools an episode gets (for a startup line)."""
        default = self.options.environment
        environment = None if default is None else self.session.build("environments", default)
        tools = toolbox_for(environment, self.functions, self.options.tool_timeout).tools
        return (f"environment {default.name}, " if default is not None else "") + \
            f"tools {', '.join(tools)}"

    def start(self, record: Conversation, columns: dict[str, Any]) -> Episode:
        """A new episode for ``record``; ``columns`` go to the environment's ``reset``."""
        environment = self._environment(record)
        observation = None
        if environment is not None:
            try:
                observation = environment.reset(**columns)
            except Exception as error:
                raise RecordError(record.origin, ENVIRONMENT_COLUMN,
                                  f"the environment's reset raised {error!r}") from error
        return Episode(
            record, self.template, toolbox_for(environment, self.functions,
                                               self.options.tool_timeout),
            max_tool_calls=self.options.max_tool_calls, environment=environment,
            observation=observation)

    def _environment(self, record: Conversation) -> Environment | None:
        name = record.meta.get(ENVIRONMENT_COLUMN)
        default = self.options.environment
        if name is None:
            return None if default is None else self.session.build("environments", default)
        ref = default if default is not None and default.name == name else str(name)
        return self.session.build("environments", ref)


def _function(ref: str) -> Callable[..., Any]:
    if ":" not in ref:
        raise ConfigError(f"tools: {ref!r} names no function; write file.py:function or "
                          "module:function")
    function = import_object(ref)
    if not callable(function):
        raise ConfigError(f"tools: {ref} is not a function")
    return function
