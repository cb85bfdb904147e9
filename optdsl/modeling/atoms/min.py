"""``min(x, axis=None, keepdims=False)``: the smallest entry (along an axis)."""

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


class Min(Reduction):
    """The smallest entry along ``axis``: concave, increasing, sign of x, not differentiable at ties."""

    name = "min"
    smooth = False

    def is_atom_convex(self) -> bool:
        return False

    def is_atom_concave(self) -> bool:
        return True

    def sign_from_args(self) -> Sign:
        return self._args[0].sign

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.INCREASING

    def forward(self, x: jax.Array) -> jax.Array:
        return jnp.min(x, axis=self.axis, keepdims=self.keepdims)

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Hypograph ``min(x, axis) >= t``: ``x >= t`` with ``t`` broadcast back along the axis."""
        (x,) = args
        return [x >= reshape(t, reduced_shape(x.shape, self.axis, keepdims=True))]


def min(x: Any, axis: int | None = None, keepdims: bool = False) -> Expression:
    """The smallest entry of ``x`` (all entries, or along ``axis``).

    >>> from optdsl.modeling.atoms.min import min
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = min(x)
    >>> str(e), e.shape, e.curvature.value
    ('min(x)', (), 'concave')
    """
    return Min(x, axis=axis, keepdims=keepdims)
