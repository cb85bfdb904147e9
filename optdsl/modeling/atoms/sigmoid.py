"""``sigmoid(x)``: the logistic sigmoid ``1 / (1 + e^-x)`` entry by entry (smooth, non-convex)."""

from __future__ import annotations

from typing import Any

import jax

from optdsl.modeling.atom import NonconvexElementwise
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.expression import Expression


class Sigmoid(NonconvexElementwise):
    """``1 / (1 + e^{-x_i})``: smooth, increasing, nonnegative, neither convex nor concave."""

    name = "sigmoid"

    def sign_from_args(self) -> Sign:
        return Sign.NONNEG

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.INCREASING

    def forward(self, x: jax.Array) -> jax.Array:
        return jax.nn.sigmoid(x)


def sigmoid(x: Any) -> Expression:
    """Elementwise logistic sigmoid (non-convex models only).

    >>> from optdsl.modeling.atoms.sigmoid import sigmoid
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = sigmoid(x)
    >>> str(e), e.shape, e.curvature.value
    ('sigmoid(x)', (3,), 'unknown')
    """
    return Sigmoid(x)
