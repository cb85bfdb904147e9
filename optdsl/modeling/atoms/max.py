"""``max(x, axis=None, keepdims=False)``: the largest entry (along an axis)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.affine.reshape import reshape
from optdsl.modeling.atom import Reduction
from optdsl.modeling.constraints import Constraint
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.expression import Expression
from optdsl.modeling.shapes import reduced_shape


class Max(Reduction):
    """The largest entry along ``axis``: convex, increasing, sign of x, not differentiable at ties."""

    name = "max"
    smooth = False

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return False

    def sign_from_args(self) -> Sign:
        return self._args[0].sign

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.INCREASING

    def forward(self, x: jax.Array) -> jax.Array:
        return jnp.max(x, axis=self.axis, keepdims=self.keepdims)

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Epigraph ``max(x, axis) <= t``: ``x <= t`` with ``t`` broadcast back along the axis."""
        (x,) = args
        return [x <= reshape(t, reduced_shape(x.shape, self.axis, keepdims=True))]


def max(x: Any, axis: int | None = None, keepdims: bool = False) -> Expression:
    """The largest entry of ``x`` (all entries, or along ``axis``).

    >>> from optdsl.modeling.atoms.max import max
    >>> from optdsl.modeling.leaves import Variable
    >>> X = Variable((2, 2), name="X")
    >>> e = max(X, axis=0)
    >>> str(e), e.shape, e.curvature.value
    ('max(X, axis=0)', (2,), 'convex')
    """
    return Max(x, axis=axis, keepdims=keepdims)
