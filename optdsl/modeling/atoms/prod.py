"""``prod(x, axis=None, keepdims=False)``: the product of the entries (along an axis).

Neither convex nor concave under the DCP rules (cvxpy accepts it only in log-log convex
programs), so it is refused in a convex model unless its argument is constant (parameters,
data) and allowed in a non-convex one.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.atom import Reduction
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.expression import Expression


class Prod(Reduction):
    """Product along ``axis``: neither convex nor concave, nonnegative for nonnegative x, smooth."""

    name = "prod"

    def is_atom_convex(self) -> bool:
        return False

    def is_atom_concave(self) -> bool:
        return False

    def sign_from_args(self) -> Sign:
        return Sign.NONNEG if self._args[0].sign.is_nonneg else Sign.UNKNOWN

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.INCREASING if self._args[0].sign.is_nonneg else Monotonicity.NONE

    def forward(self, x: jax.Array) -> jax.Array:
        return jnp.prod(x, axis=self.axis, keepdims=self.keepdims)

    def curvature_note(self) -> str:
        return f"{self.name} is neither convex nor concave (log-log convex only; allowed only in non-convex mode)"


def prod(x: Any, axis: int | None = None, keepdims: bool = False) -> Expression:
    """Product of the entries of ``x`` (all entries, or along ``axis``).

    >>> from optdsl.modeling.atoms.prod import prod
    >>> from optdsl.modeling.leaves import Parameter
    >>> a = Parameter(3, name="a")
    >>> e = prod(a)
    >>> str(e), e.shape, e.curvature.value
    ('prod(a)', (), 'constant')
    """
    return Prod(x, axis=axis, keepdims=keepdims)
