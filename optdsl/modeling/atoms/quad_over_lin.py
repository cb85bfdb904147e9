"""``quad_over_lin(x, y)``: ``sum(x_ij^2) / y`` for a scalar ``y > 0``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.affine.reshape import reshape
from optdsl.modeling.affine.stack import concatenate
from optdsl.modeling.atom import Atom
from optdsl.modeling.constraints import SOC, Constraint
from optdsl.modeling.curvature import Monotonicity, Sign, sign_monotonicity
from optdsl.modeling.errors import ShapeError
from optdsl.modeling.expression import Expression
from optdsl.modeling.shapes import Shape


class QuadOverLin(Atom):
    """``||x||^2 / y``: jointly convex on y > 0, nonnegative, smooth; decreasing in ``y``."""

    name = "quad_over_lin"
    restricted_domain = True

    def shape_from_args(self) -> Shape:
        x, y = (a.shape for a in self._args)
        if y != ():
            raise ShapeError(f"quad_over_lin: shapes {x} and {y}: the denominator y must be a scalar")
        return ()

    def sign_from_args(self) -> Sign:
        return Sign.NONNEG

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return False

    def monotonicity(self, index: int) -> Monotonicity:
        return sign_monotonicity(self._args[0].sign) if index == 0 else Monotonicity.DECREASING

    def forward(self, x: jax.Array, y: jax.Array) -> jax.Array:
        return jnp.sum(jnp.square(x)) / y

    def clip_to_domain(self, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        return x, jnp.maximum(y, 0)

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Epigraph ``||x||^2 / y <= t``: the rotated cone ``||(y - t, 2 x)||_2 <= y + t``."""
        x, y = args
        return [SOC(y + t, concatenate([reshape(y - t, (1,)), 2 * reshape(x, (x.size,))]))]


def quad_over_lin(x: Any, y: Any) -> Expression:
    """Sum of squares of ``x`` divided by the scalar ``y``.

    >>> from optdsl.modeling.atoms.quad_over_lin import quad_over_lin
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> y = Variable(3, name="y")
    >>> e = quad_over_lin(x, y[0])
    >>> str(e), e.shape, e.curvature.value
    ('quad_over_lin(x, y[0])', (), 'convex')
    """
    return QuadOverLin(x, y)
