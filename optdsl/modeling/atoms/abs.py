"""``abs(x)``: ``|x|`` entry by entry (also the builtin ``abs(expr)``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.atom import Elementwise
from optdsl.modeling.constraints import Constraint
from optdsl.modeling.curvature import Monotonicity, Sign, sign_monotonicity
from optdsl.modeling.expression import Expression


class Abs(Elementwise):
    """``|x_i|``: convex, nonnegative, not differentiable at 0; increasing for x >= 0, decreasing for x <= 0."""

    name = "abs"
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
        return jnp.abs(x)

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Epigraph ``|x| <= t``: ``x <= t`` and ``-x <= t``."""
        (x,) = args
        return [x <= t, -x <= t]


def abs(x: Any) -> Expression:
    """Elementwise absolute value.

    >>> from optdsl.modeling.atoms.abs import abs
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = abs(x)
    >>> str(e), e.shape, e.curvature.value
    ('abs(x)', (3,), 'convex')
    """
    return Abs(x)
