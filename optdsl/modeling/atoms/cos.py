"""``cos(x)``: cosine entry by entry (smooth, non-convex)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.atom import NonconvexElementwise
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.expression import Expression


class Cos(NonconvexElementwise):
    """``cos(x_i)``: smooth, neither convex nor concave, not monotone."""

    name = "cos"

    def sign_from_args(self) -> Sign:
        return Sign.UNKNOWN

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.NONE

    def forward(self, x: jax.Array) -> jax.Array:
        return jnp.cos(x)


def cos(x: Any) -> Expression:
    """Elementwise cosine (non-convex models only).

    >>> from optdsl.modeling.atoms.cos import cos
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = cos(x)
    >>> str(e), e.shape, e.curvature.value
    ('cos(x)', (3,), 'unknown')
    """
    return Cos(x)
