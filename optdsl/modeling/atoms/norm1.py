"""``norm1(x, axis=None, keepdims=False)``: the sum of absolute values (entrywise for matrices)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.affine.sum import Sum
from optdsl.modeling.atom import Reduction
from optdsl.modeling.atoms.abs import Abs
from optdsl.modeling.constraints import Constraint
from optdsl.modeling.curvature import Monotonicity, Sign, sign_monotonicity
from optdsl.modeling.expression import Expression


class Norm1(Reduction):
    """``sum |x_i|`` along ``axis``: convex, nonnegative, non-smooth."""

    name = "norm1"
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
        return jnp.sum(jnp.abs(x), axis=self.axis, keepdims=self.keepdims)

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Epigraph ``sum |x| <= t`` along the axis, through the graph form of ``abs``."""
        (x,) = args
        return [Sum(Abs(x), axis=self.axis, keepdims=self.keepdims) <= t]


def norm1(x: Any, axis: int | None = None, keepdims: bool = False) -> Expression:
    """l1 norm of ``x`` (all entries, or along ``axis``).

    >>> from optdsl.modeling.atoms.norm1 import norm1
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = norm1(x)
    >>> str(e), e.shape, e.curvature.value
    ('norm1(x)', (), 'convex')
    """
    return Norm1(x, axis=axis, keepdims=keepdims)
