"""``norm_inf(x, axis=None, keepdims=False)``: the largest absolute value."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.affine.reshape import reshape
from optdsl.modeling.atom import Reduction
from optdsl.modeling.constraints import Constraint
from optdsl.modeling.curvature import Monotonicity, Sign, sign_monotonicity
from optdsl.modeling.expression import Expression
from optdsl.modeling.shapes import reduced_shape


class NormInf(Reduction):
    """``max |x_i|`` along ``axis``: convex, nonnegative, non-smooth."""

    name = "norm_inf"
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
        return jnp.max(jnp.abs(x), axis=self.axis, keepdims=self.keepdims)

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Epigraph ``max |x| <= t`` along the axis: ``-t <= x <= t`` with ``t`` broadcast back."""
        (x,) = args
        bound = reshape(t, reduced_shape(x.shape, self.axis, keepdims=True))
        return [x <= bound, -x <= bound]


def norm_inf(x: Any, axis: int | None = None, keepdims: bool = False) -> Expression:
    """Infinity norm of ``x`` (all entries, or along ``axis``).

    >>> from optdsl.modeling.atoms.norm_inf import norm_inf
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> y = Variable(3, name="y")
    >>> e = norm_inf(x - y)
    >>> str(e), e.shape, e.curvature.value
    ('norm_inf(x - y)', (), 'convex')
    """
    return NormInf(x, axis=axis, keepdims=keepdims)
