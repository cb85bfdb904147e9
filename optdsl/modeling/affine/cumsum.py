"""``cumsum(x, axis=0)``: running sums along an axis (same shape as ``x``)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.atom import Atom
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.errors import ShapeError
from optdsl.modeling.expression import Expression, as_expression
from optdsl.modeling.shapes import Shape, normalize_axis


class Cumsum(Atom):
    """``y[..., k, ...] = sum_{j <= k} x[..., j, ...]`` along ``axis``."""

    name = "cumsum"

    def __init__(self, x: Any, axis: int = 0):
        x = as_expression(x)
        if axis is None:
            raise ShapeError(f"cumsum: axis must be an int (axis=None is not supported), for shape {x.shape}")
        self.axis = normalize_axis(self.name, axis, x.shape)
        super().__init__(x)

    def shape_from_args(self) -> Shape:
        return self._args[0].shape

    def sign_from_args(self) -> Sign:
        return self._args[0].sign

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return True

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.INCREASING

    def forward(self, x: jax.Array) -> jax.Array:
        return jnp.cumsum(x, axis=self.axis)

    def data(self) -> tuple:
        return (self.axis,)

    def format_data(self) -> list[str]:
        return [] if self.axis == 0 else [f"axis={self.axis}"]


def cumsum(x: Any, axis: int = 0) -> Expression:
    """Cumulative sum along ``axis`` (default 0, as in cvxpy).

    >>> from optdsl.modeling.affine.cumsum import cumsum
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = cumsum(x)
    >>> str(e), e.shape, e.curvature.value
    ('cumsum(x)', (3,), 'affine')
    """
    return Cumsum(x, axis=axis)
