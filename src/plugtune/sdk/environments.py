"""What an environment's class becomes: its tools.

An environment (``register_environments``; the :class:`~plugtune.core.interfaces.Environment`
Protocol) offers as tools its public methods other than ``reset`` and ``get_reward`` —
TRL's rule for ``environment_factory`` classes — and the functions of its ``tools``
list, when it has one (tools known only at run time). A tool is a typed function with a
Google-style docstring: transformers' ``get_json_schema`` turns it into the schema the
chat template renders (the same rule as transformers' chat templates and TRL's
``tools=``). The library's episodes call the tools (:mod:`plugtune.agents.toolbox`);
:func:`plugtune.sdk.testing.check_environment` checks an environment in its author's
own tests.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from plugtune.core.errors import ConfigError

NOT_TOOLS = frozenset({"reset", "get_reward"})


@dataclass(frozen=True)
class Tool:
    """A callable the model may call by ``name``, described by ``schema``."""

    name: str
    function: Callable[..., Any]
    schema: Mapping[str, Any]


def tool_from_function(function: Callable[..., Any]) -> Tool:
    """``function`` as a tool; an undocumented or untyped one is a ConfigError naming it."""
    from transformers.utils import get_json_schema

    name = getattr(function, "__name__", repr(function))
    try:
        schema = get_json_schema(function)
    except Exception as error:  # transformers raises its own DocstringParsingException
        raise ConfigError(
            f"tool {name}: {error} (a tool needs type hints and a Google-style docstring "
            "with an Args section describing each argument)") from None
    return Tool(name, function, schema)


def environment_tools(environment: object) -> list[Tool]:
    """The tools an environment offers: its public methods, and the functions of its
    ``tools`` list when it has one."""
    methods = [getattr(environment, name) for name, _ in
               inspect.getmembers(type(environment), predicate=inspect.isfunction)
               if not name.startswith("_") and name not in NOT_TOOLS]
    return [tool_from_function(f) for f in [*methods, *getattr(environment, "tools", ())]]
