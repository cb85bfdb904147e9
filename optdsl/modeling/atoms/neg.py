"""``neg(x)``: the negative part ``max(-x, 0)`` entry by entry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.atom import Elementwise
from optdsl.modeling.constraints import Constraint
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.expression import Expression


class Neg(Elementwise):
    """``max(-x_i, 0)``: convex, decreasing, nonnegative, not differentiable at 0."""

    name = "neg"
    smooth = False

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return False

    def sign_from_args(self) -> Sign:
        return Sign.NONNEG

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.DECREASING

    def forward(self, x: jax.Array) -> jax.Array:
        return jnp.maximum(-x, 0)

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Epigraph ``max(-x, 0) <= t``: ``-x <= t`` and ``0 <= t``."""
        (x,) = args
        return [-x <= t, t >= 0]


def neg(x: Any) -> Expression:
    """Elementwise negative part (``neg(x) = pos(-x)``, as in cvxpy).

    >>> from optdsl.modeling.atoms.neg import neg
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = neg(x)
    >>> str(e), e.shape, e.curvature.value
    ('neg(x)', (3,), 'convex')
    """
    return Neg(x)
