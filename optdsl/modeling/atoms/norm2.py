"""``norm2(x, axis=None, keepdims=False)``: the Euclidean norm (Frobenius for a matrix with axis=None).

``sum(norm2(X, axis=1))`` is the row-wise group lasso penalty.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.affine.reshape import reshape
from optdsl.modeling.atom import Reduction
from optdsl.modeling.atoms.safe_root import safe_root
from optdsl.modeling.constraints import SOC, Constraint
from optdsl.modeling.curvature import Monotonicity, Sign, sign_monotonicity
from optdsl.modeling.expression import Expression


class Norm2(Reduction):
    """``sqrt(sum x_i^2)`` along ``axis``: convex, nonnegative, not differentiable at 0."""

    name = "norm2"
    smooth = False

    def sign_from_args(self) -> Sign:
        return Sign.NONNEG

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return False

    def monotonicity(self, index: int) -> Monotonicity:
        return sign_monotonicity(self._args[0].sign)

    def forward(self, x: jax.Array) -> jax.Array:
        return safe_root(jnp.sum(jnp.square(x), axis=self.axis, keepdims=self.keepdims), 2)

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Epigraph ``||x||_2 <= t``: one second-order cone, or one per column (row) along axis 0 (1)."""
        (x,) = args
        if self.axis is None or x.ndim == 1:
            return [SOC(reshape(t, ()), reshape(x, (x.size,)))]
        return [SOC(reshape(t, (t.size,)), x, axis=self.axis)]


def norm2(x: Any, axis: int | None = None, keepdims: bool = False) -> Expression:
    """Euclidean norm of ``x`` (all entries, or along ``axis``).

    >>> from optdsl.modeling.atoms.norm2 import norm2
    >>> from optdsl.modeling.leaves import Variable
    >>> X = Variable((2, 2), name="X")
    >>> e = norm2(X, axis=1)
    >>> str(e), e.shape, e.curvature.value
    ('norm2(X, axis=1)', (2,), 'convex')
    """
    return Norm2(x, axis=axis, keepdims=keepdims)
