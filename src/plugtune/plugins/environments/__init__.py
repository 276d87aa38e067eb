"""Built-in environments for agentic GRPO and tool use at inference: ``calculator``
(exact arithmetic) and ``python_functions`` (the functions of a user's module)."""

from __future__ import annotations

from plugtune.core.hookspecs import hookimpl
from plugtune.core.interfaces import Register


@hookimpl
def register_environments(register: Register) -> None:
    register("calculator", "plugtune.plugins.environments.calculator:Calculator",
             doc="Exact arithmetic: a calculate(expression) tool.")
    register("python_functions",
             "plugtune.plugins.environments.python_functions:PythonFunctions",
             doc="The functions of a user's module (file.py or pkg.module) as tools.")
