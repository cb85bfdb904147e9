"""``tanh(x)``: hyperbolic tangent entry by entry (smooth, non-convex)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.atom import NonconvexElementwise
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.expression import Expression


class Tanh(NonconvexElementwise):
    """``tanh(x_i)``: smooth, increasing, neither convex nor concave; sign of x."""

    name = "tanh"

    def sign_from_args(self) -> Sign:
        return self._args[0].sign

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.INCREASING

    def forward(self, x: jax.Array) -> jax.Array:
        return jnp.tanh(x)


def tanh(x: Any) -> Expression:
    """Elementwise hyperbolic tangent (non-convex models only).

    >>> from optdsl.modeling.atoms.tanh import tanh
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = tanh(x)
    >>> str(e), e.shape, e.curvature.value
    ('tanh(x)', (3,), 'unknown')
    """
    return Tanh(x)
