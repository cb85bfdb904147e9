"""``sum_largest(x, k)`` and ``sum_smallest(x, k)``: the sum of the k largest (smallest) entries, along an axis.

As in cvxpy, ``k`` may be fractional (the ``floor(k)`` largest entries plus the fraction of the
next one) and a ``k`` beyond the number of entries sums them all.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.affine.reshape import reshape
from optdsl.modeling.affine.sum import Sum
from optdsl.modeling.atom import Reduction
from optdsl.modeling.constraints import Constraint
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.errors import ModelingError
from optdsl.modeling.expression import Expression, as_expression
from optdsl.modeling.leaves import Variable
from optdsl.modeling.printing import format_number
from optdsl.modeling.shapes import reduced_shape


def positive_count(op: str, k: Any) -> float:
    """``k`` as a positive float (an entry or eigenvalue count, possibly fractional), else a ``ModelingError``."""
    try:
        k = float(k)
    except (TypeError, ValueError):
        raise ModelingError(f"{op}: k must be a positive number, got {k!r}") from None
    if not (math.isfinite(k) and k > 0):
        raise ModelingError(f"{op}: k must be a positive number, got {k}")
    return k


def top_weights(k: float, count: int, dtype: Any) -> jax.Array:
    """Weights of the entries sorted in decreasing order: 1 for the ``floor(k)`` first, the fraction for the next."""
    return jnp.clip(k - jnp.arange(count, dtype=dtype), 0, 1)


class SumLargest(Reduction):
    """The sum of the ``k`` largest entries along ``axis``: convex, increasing, sign of x, kinks at ties."""

    name = "sum_largest"
    smooth = False

    def __init__(self, x: Any, k: float, axis: int | None = None, keepdims: bool = False):
        self.k = positive_count(self.name, k)
        super().__init__(x, axis=axis, keepdims=keepdims)

    def _count(self) -> int:
        """The number of entries each sum runs over."""
        x = self._args[0]
        return x.size if self.axis is None else x.shape[self.axis]

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return False

    def sign_from_args(self) -> Sign:
        return self._args[0].sign

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.INCREASING

    def forward(self, x: jax.Array) -> jax.Array:
        flat = jnp.ravel(x) if self.axis is None else jnp.moveaxis(x, self.axis, -1)
        decreasing = -jnp.sort(-flat, axis=-1)
        total = decreasing @ top_weights(self.k, self._count(), x.dtype)
        return jnp.reshape(total, self.shape)

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Epigraph: ``x <= z + q``, ``z >= 0``, ``sum(z) + k q <= t`` (q broadcast back along the axis).

        The minimum of ``k q + sum(pos(x - q))`` over q is the sum of the k largest entries,
        reached at the k-th largest one (k at most the count of entries).
        """
        (x,) = args
        kept = reduced_shape(x.shape, self.axis, keepdims=True)
        q, z = Variable(kept), Variable(x.shape)
        k = min(self.k, self._count())
        return [z >= 0, x <= z + q, Sum(z, axis=self.axis, keepdims=True) + k * q <= reshape(t, kept)]

    def data(self) -> tuple:
        return (self.k, *super().data())

    def format_data(self) -> list[str]:
        return [format_number(self.k), *super().format_data()]


def sum_largest(x: Any, k: float, axis: int | None = None, keepdims: bool = False) -> Expression:
    """The sum of the ``k`` largest entries of ``x`` (all entries, or along ``axis``).

    >>> from optdsl.modeling.atoms.sum_largest import sum_largest
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(5, name="x")
    >>> e = sum_largest(x, 2)
    >>> str(e), e.shape, e.curvature.value
    ('sum_largest(x, 2)', (), 'convex')
    """
    return SumLargest(x, k, axis=axis, keepdims=keepdims)


def sum_smallest(x: Any, k: float, axis: int | None = None, keepdims: bool = False) -> Expression:
    """The sum of the ``k`` smallest entries of ``x``: ``-sum_largest(-x, k)``, concave.

    >>> from optdsl.modeling.atoms.sum_largest import sum_smallest
    >>> from optdsl.modeling.leaves import Variable
    >>> X = Variable((3, 2), name="X")
    >>> e = sum_smallest(X, 2, axis=0)
    >>> str(e), e.shape, e.curvature.value
    ('-sum_largest(-X, 2, axis=0)', (2,), 'concave')
    """
    return -SumLargest(-as_expression(x), k, axis=axis, keepdims=keepdims)
