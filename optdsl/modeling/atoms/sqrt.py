"""``sqrt(x)``: the square root entry by entry (domain x >= 0)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.atom import Elementwise
from optdsl.modeling.atoms.square import square_cone
from optdsl.modeling.constraints import Constraint
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.expression import Expression


class Sqrt(Elementwise):
    """``sqrt(x_i)``: concave, increasing, nonnegative, smooth on x > 0."""

    name = "sqrt"
    restricted_domain = True

    def is_atom_convex(self) -> bool:
        return False

    def is_atom_concave(self) -> bool:
        return True

    def sign_from_args(self) -> Sign:
        return Sign.NONNEG

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.INCREASING

    def forward(self, x: jax.Array) -> jax.Array:
        return jnp.sqrt(x)

    def suggestion(self) -> str | None:
        from optdsl.modeling.atoms.square import Square
        from optdsl.modeling.atoms.sum_squares import SumSquares

        (arg,) = self._args
        if isinstance(arg, SumSquares):
            return f"use norm2({arg.args[0]}) instead"
        if isinstance(arg, Square):
            return f"use abs({arg.args[0]}) instead"
        return None

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Hypograph ``sqrt(x) >= t``: the rotated cone ``t^2 <= x * 1`` entry by entry."""
        (x,) = args
        return [square_cone(t, x, 1)]


def sqrt(x: Any) -> Expression:
    """Elementwise square root.

    >>> from optdsl.modeling.atoms.sqrt import sqrt
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = sqrt(x)
    >>> str(e), e.shape, e.curvature.value
    ('sqrt(x)', (3,), 'concave')
    """
    return Sqrt(x)
