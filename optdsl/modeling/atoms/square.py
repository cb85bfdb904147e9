"""``square(x)``: ``x ** 2`` entry by entry."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.atom import Elementwise
from optdsl.modeling.curvature import Monotonicity, Sign, sign_monotonicity
from optdsl.modeling.expression import Expression


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
