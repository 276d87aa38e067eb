"""``python_functions``: the functions of a user's module as tools, with no state.

``environment: {name: python_functions, module: my_tools.py, functions: [add, lookup]}``
(``functions`` left out: every public function the module defines). The same as the
trainer's ``tools: [my_tools.py:add, …]`` list, as an environment a record can name.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from plugtune.core.errors import ConfigError
from plugtune.core.importing import import_object


class PythonFunctionsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    module: str = Field(description="A file (tools.py) or an importable module (pkg.tools).")
    functions: list[str] | None = Field(
        None, description="The functions to offer; none given: every public one.")


class PythonFunctions:
    """The functions of one module as tools (``tools`` of :mod:`plugtune.agents`)."""

    Options = PythonFunctionsOptions

    def __init__(self, module: str, functions: list[str] | None = None) -> None:
        self.tools = module_functions(module, functions)

    def reset(self, **columns: Any) -> None:
        """Stateless: nothing to reset."""


def module_functions(module: str, names: list[str] | None) -> list[Callable[..., Any]]:
    """The named functions of ``module`` (a file or a dotted name), or all its public ones."""
    if names is not None:
        return [import_object(f"{module}:{name}") for name in names]
    loaded = import_object(module)
    found = [value for name, value in vars(loaded).items()
             if inspect.isfunction(value) and not name.startswith("_")
             and value.__module__ == loaded.__name__]
    if not found:
        raise ConfigError(f"python_functions: {module} defines no public function")
    return found
