"""Sum of entries ``sum(x, axis=None, keepdims=False)`` (also ``x.sum(...)``) and ``mean``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.atom import Reduction
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.expression import Expression


class Sum(Reduction):
    """Sum along ``axis`` (all entries when None): affine and increasing."""

    name = "sum"

    def sign_from_args(self) -> Sign:
        return self._args[0].sign

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return True

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.INCREASING

    def forward(self, x: jax.Array) -> jax.Array:
        return jnp.sum(x, axis=self.axis, keepdims=self.keepdims)


def sum(x: Any, axis: int | None = None, keepdims: bool = False) -> Expression:
    """Sum of the entries of ``x`` along ``axis`` (numpy semantics).

    >>> from optdsl.modeling.affine.sum import sum
    >>> from optdsl.modeling.leaves import Variable
    >>> X = Variable((2, 2), name="X")
    >>> e = sum(X, axis=0)
    >>> str(e), e.shape, e.curvature.value
    ('sum(X, axis=0)', (2,), 'affine')
    """
    return Sum(x, axis=axis, keepdims=keepdims)


def mean(x: Any, axis: int | None = None, keepdims: bool = False) -> Expression:
    """Mean along ``axis``: ``sum(x, axis) / n`` with n the number of entries averaged.

    >>> from optdsl.modeling.affine.sum import mean
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = mean(x)
    >>> str(e), e.shape, e.curvature.value
    ('sum(x) / 3', (), 'affine')
    """
    total = Sum(x, axis=axis, keepdims=keepdims)
    x = total.args[0]
    count = x.size if total.axis is None else x.shape[total.axis]
    return total / count
