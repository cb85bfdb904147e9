"""Text form of expressions: operator precedence and how constants are written.

Expressions print in the ``.opt`` language's syntax, which follows Python's operator
precedence, with the fewest parentheses that keep the meaning. Constants print as:

* scalars in their shortest form: ``0.5``, ``2``, ``1e-06``, ``-3``;
* vectors of at most ``SMALL_VECTOR`` entries as a list: ``[1, 2, 3]``;
* anything else as a placeholder naming the shape: ``const(4x3)``, ``const(20)``
  (such text does not parse back; large data belongs in parameters).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from optdsl.modeling.expression import Expression

# Binding strength, as in Python: a child binding less tightly than its context is parenthesised.
ADD = 60  # a + b, a - b
MUL = 70  # a * b, a / b, a @ b
UNARY = 80  # -a
POWER = 90  # a ** p
POSTFIX = 100  # names, calls f(a), indexing a[i], transpose a'

SMALL_VECTOR = 8


def format_number(value: float | np.generic) -> str:
    """Shortest text of a real number, without a trailing ``.0``: ``2``, ``0.5``, ``1e-06``."""
    value = np.asarray(value)
    if not np.issubdtype(value.dtype, np.floating):
        value = value.astype(np.float64)
    text = str(value[()])
    return text[:-2] if text.endswith(".0") else text


def format_array(value: np.ndarray) -> str:
    """Text of a constant array (see the module docstring for the rules)."""
    if value.ndim == 0:
        return format_number(value)
    if value.ndim == 1 and value.size <= SMALL_VECTOR:
        return "[" + ", ".join(format_number(v) for v in value) + "]"
    return "const(" + "x".join(str(d) for d in value.shape) + ")"


def parenthesize(expr: Expression, precedence: int) -> str:
    """``str(expr)``, in parentheses when it binds less tightly than ``precedence`` requires."""
    text = str(expr)
    return f"({text})" if expr.precedence < precedence else text
