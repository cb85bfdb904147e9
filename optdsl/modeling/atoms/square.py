"""``square(x)``: ``x ** 2`` entry by entry."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optdsl.modeling.affine.reshape import reshape
from optdsl.modeling.affine.stack import vstack
from optdsl.modeling.atom import Elementwise
from optdsl.modeling.constraints import SOC, Constraint
from optdsl.modeling.curvature import Monotonicity, Sign, sign_monotonicity
from optdsl.modeling.expression import Expression, as_expression
from optdsl.modeling.leaves import Constant
from optdsl.modeling.shapes import broadcast_shapes


class Square(Elementwise):
    """``x_i^2``: convex, nonnegative, increasing for x >= 0 and decreasing for x <= 0."""

    name = "square"

    def sign_from_args(self) -> Sign:
        return Sign.NONNEG

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return False

    def monotonicity(self, index: int) -> Monotonicity:
        return sign_monotonicity(self._args[0].sign)

    def forward(self, x: jax.Array) -> jax.Array:
        return jnp.square(x)

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Epigraph ``x^2 <= t``: the rotated cone ``x_i^2 <= t_i * 1`` entry by entry."""
        return [square_cone(args[0], t, 1)]


def square_cone(x: Any, y: Any, z: Any) -> SOC:
    """``x_i^2 <= y_i z_i`` with ``y_i, z_i >= 0``, entry by entry (numpy broadcasting), as one ``SOC``.

    The rotated cone is the second-order cone ``||(y - z, 2 x)||_2 <= y + z``, one of length 3
    per entry; it is the building block of the graph forms of square, sqrt, inv_pos and power.

    >>> from optdsl.modeling.leaves import Variable
    >>> print(square_cone(Variable(2, name="x"), Variable(2, name="t"), 1))
    SOC(t + [1, 1], vstack([t + [-1, -1], 2 * x]), axis=0)
    """
    x, y, z = (as_expression(e) for e in (x, y, z))
    shape = broadcast_shapes("square_cone", x.shape, y.shape, z.shape)
    size = math.prod(shape)

    def entries(e: Expression) -> Expression:
        if isinstance(e, Constant):
            return Constant(np.broadcast_to(e.value, shape).reshape(size))
        full = e if e.shape == shape else e + np.zeros(shape)
        return full if full.shape == (size,) else reshape(full, (size,))

    x, y, z = entries(x), entries(y), entries(z)
    return SOC(y + z, vstack([y - z, 2 * x]), axis=0)


def square(x: Any) -> Expression:
    """Elementwise square.

    >>> from optdsl.modeling.atoms.square import square
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = square(x)
    >>> str(e), e.shape, e.curvature.value
    ('square(x)', (3,), 'convex')
    """
    return Square(x)
