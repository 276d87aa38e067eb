"""Exact arithmetic on a written expression: what the ``calculator`` tool computes.

Python's ``eval`` would run anything a model writes; this walks the expression's syntax
tree and allows numbers, ``+ - * / // % **`` and parentheses only, on exact fractions,
so ``0.1 + 0.2`` is ``0.3`` and ``347 * 28`` is ``9716`` whatever the floats would say.
The signs models write (``×``, ``÷``, ``^``, ``−``) and thousands commas are read too.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from fractions import Fraction

MAX_EXPONENT = 1000  # 2 ** 10**9 would hang the run: a power this large is an error
MAX_DIGITS = 4000  # nor may an operand grow past this many digits

_SIGNS = str.maketrans({"×": "*", "÷": "/", "^": "**", "−": "-", "x": "*", "X": "*"})
_OPERATORS: dict[type[ast.operator], Callable[[Fraction, Fraction], Fraction]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: lambda a, b: Fraction(a // b),
    ast.Mod: operator.mod,
}


class ExpressionError(ValueError):
    """An expression the calculator cannot or will not evaluate; the message says why."""


def evaluate(expression: str) -> Fraction:
    """The exact value of ``expression``."""
    text = expression.strip().translate(_SIGNS).replace(",", "")
    if not text:
        raise ExpressionError("the expression is empty")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise ExpressionError(f"not an arithmetic expression: {expression!r}") from None
    return _value(tree.body)


def written(value: Fraction, precision: int) -> str:
    """``value`` as a person writes it: an integer exactly, a terminating decimal exactly,
    any other fraction rounded to ``precision`` decimals."""
    if value.denominator == 1:
        return str(value.numerator)
    denominator = value.denominator
    for factor in (2, 5):
        while denominator % factor == 0:
            denominator //= factor
    if denominator == 1:  # terminates: every digit is exact
        places = 0
        while (value * 10**places).denominator != 1:
            places += 1
        return _decimal(value, places)
    return _decimal(value, precision)


def _decimal(value: Fraction, places: int) -> str:
    scaled = round(abs(value) * 10**places)
    whole, part = divmod(scaled, 10**places)
    sign = "-" if value < 0 and scaled else ""
    digits = f"{part:0{places}d}".rstrip("0") if places else ""
    return f"{sign}{whole}.{digits}" if digits else f"{sign}{whole}"


def _value(node: ast.expr) -> Fraction:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) \
            and not isinstance(node.value, bool):
        return Fraction(str(node.value))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _value(node.operand)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        left, right = _value(node.left), _value(node.right)
        return _checked(_apply(node.op, left, right))
    raise ExpressionError(
        f"only numbers, + - * / // % ** and parentheses are allowed, not {ast.unparse(node)!r}")


def _apply(op: ast.operator, left: Fraction, right: Fraction) -> Fraction:
    if isinstance(op, ast.Pow):
        if right.denominator != 1 or abs(right) > MAX_EXPONENT:
            raise ExpressionError(f"exponents must be whole numbers up to {MAX_EXPONENT}")
        if left == 0 and right < 0:
            raise ExpressionError("division by zero")
        return left ** int(right)
    function = _OPERATORS.get(type(op))
    if function is None:
        raise ExpressionError(f"operator {type(op).__name__} is not allowed")
    if right == 0 and isinstance(op, ast.Div | ast.FloorDiv | ast.Mod):
        raise ExpressionError("division by zero")
    return function(left, right)


def _checked(value: Fraction) -> Fraction:
    if max(len(str(abs(value.numerator))), len(str(value.denominator))) > MAX_DIGITS:
        raise ExpressionError(f"the result has more than {MAX_DIGITS} digits")
    return value
