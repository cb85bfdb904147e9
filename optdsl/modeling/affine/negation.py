"""Unary minus ``-x``."""

from __future__ import annotations

from typing import Any

import jax

from optdsl.modeling.atom import Atom
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.expression import Expression, as_expression
from optdsl.modeling.leaves import Constant
from optdsl.modeling.printing import UNARY, parenthesize
from optdsl.modeling.shapes import Shape


class Negation(Atom):
    """``-x``: affine and decreasing."""

    name = "negate"
    precedence = UNARY

    def shape_from_args(self) -> Shape:
        return self._args[0].shape

    def sign_from_args(self) -> Sign:
        return self._args[0].sign.negate()

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return True

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.DECREASING

    def forward(self, x: jax.Array) -> jax.Array:
        return -x

    def __str__(self) -> str:
        return "-" + parenthesize(self._args[0], UNARY)


def negate(x: Any) -> Expression:
    """``-x``; a constant is negated in place and ``-(-x)`` is ``x``, so each value has one form.

    >>> from optdsl.modeling.affine.negation import negate
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = negate(x)
    >>> str(e), e.shape, e.curvature.value
    ('-x', (3,), 'affine')
    """
    x = as_expression(x)
    if isinstance(x, Constant):
        return Constant(-x.value)
    if isinstance(x, Negation):
        return x.args[0]
    return Negation(x)
