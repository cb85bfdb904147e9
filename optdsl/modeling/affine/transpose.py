"""Matrix transpose ``X.T`` (printed ``X'``)."""

from __future__ import annotations

from typing import Any

import jax

from optdsl.modeling.atom import Atom
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.errors import ShapeError
from optdsl.modeling.expression import Expression, as_expression
from optdsl.modeling.printing import POSTFIX, parenthesize
from optdsl.modeling.shapes import Shape


class Transpose(Atom):
    """``X'`` of a matrix: shape (m, n) -> (n, m)."""

    name = "transpose"
    accepts_sparse = True

    def shape_from_args(self) -> Shape:
        shape = self._args[0].shape
        if len(shape) != 2:
            raise ShapeError(f"transpose: shape {shape} is not a matrix")
        return shape[::-1]

    def sign_from_args(self) -> Sign:
        return self._args[0].sign

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return True

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.INCREASING

    def forward(self, x: jax.Array) -> jax.Array:
        return x.T

    def __str__(self) -> str:
        return parenthesize(self._args[0], POSTFIX) + "'"


def transpose(x: Any) -> Expression:
    """Transpose with numpy's rule that scalars and vectors are unchanged; ``X.T.T`` is ``X``.

    >>> from optdsl.modeling.affine.transpose import transpose
    >>> from optdsl.modeling.leaves import Variable
    >>> X = Variable((2, 2), name="X")
    >>> e = transpose(X)
    >>> str(e), e.shape, e.curvature.value
    ("X'", (2, 2), 'affine')
    """
    x = as_expression(x)
    if x.ndim < 2:
        return x
    if isinstance(x, Transpose):
        return x.args[0]
    return Transpose(x)
