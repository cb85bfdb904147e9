"""``pnorm(x, p, axis=None, keepdims=False)``: ``(sum |x_i|^p)^(1/p)`` for ``p >= 1``.

``p = 1, 2, inf`` give the ``norm1``, ``norm2`` and ``norm_inf`` atoms, which the compiler
recognises for its proximal operators and projections.
The conic graph form takes every ``p`` (``power.geo_mean_cones``: an SOC tower for a small
rational ``p``, power cones otherwise).
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
from optdsl.modeling.atoms.norm1 import Norm1
from optdsl.modeling.atoms.norm2 import Norm2
from optdsl.modeling.atoms.norm_inf import NormInf
from optdsl.modeling.atoms.power import geo_mean_cones
from optdsl.modeling.atoms.safe_root import safe_root
from optdsl.modeling.constraints import Constraint
from optdsl.modeling.curvature import Monotonicity, Sign, sign_monotonicity
from optdsl.modeling.errors import ModelingError
from optdsl.modeling.expression import Expression
from optdsl.modeling.leaves import Variable
from optdsl.modeling.numbers import real_number
from optdsl.modeling.printing import format_number
from optdsl.modeling.shapes import reduced_shape


class Pnorm(Reduction):
    """The p-norm along ``axis`` for a finite ``p >= 1``: convex, nonnegative, not differentiable at 0."""

    name = "pnorm"
    smooth = False

    def __init__(self, x: Any, p: float, axis: int | None = None, keepdims: bool = False):
        self.p = real_number(self.name, "p", p)
        if not 1 <= self.p < math.inf:
            raise ModelingError(f"pnorm: p must be a number >= 1 (inf: use norm_inf), got {p}")
        super().__init__(x, axis=axis, keepdims=keepdims)

    def sign_from_args(self) -> Sign:
        return Sign.NONNEG

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return False

    def monotonicity(self, index: int) -> Monotonicity:
        return sign_monotonicity(self._args[0].sign)

    def forward(self, x: jax.Array) -> jax.Array:
        return safe_root(jnp.sum(jnp.abs(x) ** self.p, axis=self.axis, keepdims=self.keepdims), self.p)

    def data(self) -> tuple:
        return (self.p, *super().data())

    def format_data(self) -> list[str]:
        return [format_number(self.p), *super().format_data()]

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Epigraph ``||x||_p <= t``: ``|x_i| <= r_i^(1/p) t^(1 - 1/p)`` and ``sum r <= t``.

        Raising to the power p shows ``sum |x_i|^p <= t^p``; the cones are those of
        ``power.geo_mean_cones``.
        """
        (x,) = args
        r = Variable(x.shape)
        bound = reshape(t, reduced_shape(x.shape, self.axis, keepdims=True))
        return [*geo_mean_cones(x, [r, bound], [1, self.p - 1]), Sum(r, axis=self.axis, keepdims=self.keepdims) <= t]


def pnorm(x: Any, p: float, axis: int | None = None, keepdims: bool = False) -> Expression:
    """p-norm of ``x`` (entrywise, or along ``axis``) for ``p >= 1`` (``p = inf`` allowed).

    >>> from optdsl.modeling.atoms.pnorm import pnorm
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = pnorm(x, 3)
    >>> str(e), e.shape, e.curvature.value
    ('pnorm(x, 3)', (), 'convex')
    """
    number = real_number("pnorm", "p", p)
    special = {1.0: Norm1, 2.0: Norm2, math.inf: NormInf}
    if number in special:
        return special[number](x, axis=axis, keepdims=keepdims)
    return Pnorm(x, number, axis=axis, keepdims=keepdims)
