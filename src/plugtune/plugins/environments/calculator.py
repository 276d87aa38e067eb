"""``calculator``: one tool, exact arithmetic (:mod:`.arithmetic`).

For tasks a small model gets wrong alone (multi-digit multiplication): it learns to
write the expression and copy the result instead of guessing the digits. It owns no
reward — the run's ``accuracy`` reward judges the final answer against ``answer``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from plugtune.plugins.environments.arithmetic import ExpressionError, evaluate, written


class CalculatorOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    precision: int = Field(6, ge=0, le=50,
                           description="Decimals of a result that does not terminate.")


class Calculator:
    """Exact arithmetic as a tool: ``calculate(expression)``."""

    Options = CalculatorOptions

    def __init__(self, precision: int = 6) -> None:
        self.precision = precision

    def reset(self, **columns: Any) -> None:
        """Nothing to set up: every episode starts from the same calculator."""

    def calculate(self, expression: str) -> str:
        """Evaluate an arithmetic expression exactly.

        Args:
            expression: Numbers with + - * / and parentheses, e.g. "347 * 28".

        Returns:
            The exact result, or what is wrong with the expression.
        """
        try:
            return written(evaluate(expression), self.precision)
        except ExpressionError as error:
            return f"error: {error}"
