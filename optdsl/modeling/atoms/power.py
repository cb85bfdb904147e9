"""``power(x, p)`` (also ``x ** p``): ``x^p`` entry by entry for a constant exponent ``p != 0``.

Curvature follows cvxpy: ``p = 1`` affine; ``p`` an even integer: convex on all reals;
any other ``p > 1``: convex and increasing on the domain ``x >= 0``; ``0 < p < 1``:
concave and increasing on ``x >= 0``; ``p < 0``: convex and decreasing on ``x > 0``.
The forward function is ``x ** p``; keeping ``x`` in the domain is the compiler's job.
"""

from __future__ import annotations

from typing import Any

import jax

from optdsl.modeling.atom import Elementwise
from optdsl.modeling.curvature import Monotonicity, Sign, sign_monotonicity
from optdsl.modeling.errors import ModelingError
from optdsl.modeling.expression import Expression, as_expression
from optdsl.modeling.numbers import real_number
from optdsl.modeling.printing import POWER, format_number, parenthesize


class Power(Elementwise):
    """``x_i^p`` (printed ``x ** p``)."""

    name = "power"
    precedence = POWER

    def __init__(self, x: Any, p: float):
        self.p = real_number(self.name, "the exponent p", p)
        if self.p == 0 or abs(self.p) == float("inf"):
            raise ModelingError(f"power: the exponent must be a finite nonzero number, got {p}")
        super().__init__(as_expression(x))

    def _even(self) -> bool:
        return self.p.is_integer() and self.p % 2 == 0

    def is_atom_convex(self) -> bool:
        return self.p >= 1 or self.p < 0

    def is_atom_concave(self) -> bool:
        return 0 < self.p <= 1

    def sign_from_args(self) -> Sign:
        return self._args[0].sign if self.p == 1 else Sign.NONNEG

    def monotonicity(self, index: int) -> Monotonicity:
        if self._even():
            return sign_monotonicity(self._args[0].sign)
        return Monotonicity.DECREASING if self.p < 0 else Monotonicity.INCREASING

    def forward(self, x: jax.Array) -> jax.Array:
        return x ** (int(self.p) if self.p.is_integer() else self.p)

    def data(self) -> tuple:
        return (self.p,)

    def suggestion(self) -> str | None:
        from optdsl.modeling.atoms.sum_squares import SumSquares

        (arg,) = self._args
        if self.p == 0.5 and isinstance(arg, SumSquares):
            return f"use norm2({arg.args[0]}) instead"
        return None

    def __str__(self) -> str:
        return f"{parenthesize(self._args[0], POWER + 1)} ** {format_number(self.p)}"


def power(x: Any, p: float) -> Expression:
    """Elementwise ``x ** p`` for a constant exponent (see the module docstring for curvature).

    >>> from optdsl.modeling.atoms.power import power
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = power(x, 0.5)
    >>> str(e), e.shape, e.curvature.value
    ('x ** 0.5', (3,), 'concave')
    """
    return Power(x, p)
