"""``sin(x)``: sine entry by entry (smooth, non-convex)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.atom import NonconvexElementwise
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.expression import Expression


class Sin(NonconvexElementwise):
    """``sin(x_i)``: smooth, neither convex nor concave, not monotone."""

    name = "sin"

    def sign_from_args(self) -> Sign:
        return Sign.UNKNOWN

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.NONE

    def forward(self, x: jax.Array) -> jax.Array:
        return jnp.sin(x)


def sin(x: Any) -> Expression:
    """Elementwise sine (non-convex models only).

    >>> from optdsl.modeling.atoms.sin import sin
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = sin(x)
    >>> str(e), e.shape, e.curvature.value
    ('sin(x)', (3,), 'unknown')
    """
    return Sin(x)
