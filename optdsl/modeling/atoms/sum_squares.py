"""``sum_squares(x)``: the sum of the squared entries, ``||x||_2^2`` (Frobenius for matrices)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.atom import Atom
from optdsl.modeling.atoms.quad_over_lin import QuadOverLin
from optdsl.modeling.constraints import Constraint
from optdsl.modeling.curvature import Monotonicity, Sign, sign_monotonicity
from optdsl.modeling.expression import Expression, as_expression
from optdsl.modeling.shapes import Shape


class SumSquares(Atom):
    """``sum_ij x_ij^2``: scalar, convex, nonnegative, smooth."""

    name = "sum_squares"

    def shape_from_args(self) -> Shape:
        return ()

    def sign_from_args(self) -> Sign:
        return Sign.NONNEG

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return False

    def monotonicity(self, index: int) -> Monotonicity:
        return sign_monotonicity(self._args[0].sign)

    def forward(self, x: jax.Array) -> jax.Array:
        return jnp.sum(jnp.square(x))

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Epigraph ``sum x^2 <= t``: the cone of ``quad_over_lin(x, 1) <= t``."""
        (x,) = args
        return QuadOverLin(x, 1).graph_form(t, (x, as_expression(1)))


def sum_squares(x: Any) -> Expression:
    """Sum of squares of all entries of ``x``.

    >>> from optdsl.modeling.atoms.sum_squares import sum_squares
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> y = Variable(3, name="y")
    >>> e = sum_squares(x - y)
    >>> str(e), e.shape, e.curvature.value
    ('sum_squares(x - y)', (), 'convex')
    """
    return SumSquares(x)
