"""``inv_pos(x)``: ``1/x`` entry by entry on x > 0."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax

from optdsl.modeling.atom import Elementwise
from optdsl.modeling.atoms.square import square_cone
from optdsl.modeling.constraints import Constraint
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.expression import Expression


class InvPos(Elementwise):
    """``1/x_i`` on x > 0: convex, decreasing, nonnegative, smooth."""

    name = "inv_pos"
    restricted_domain = True

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return False

    def sign_from_args(self) -> Sign:
        return Sign.NONNEG

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.DECREASING

    def forward(self, x: jax.Array) -> jax.Array:
        return 1 / x

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Epigraph ``1 / x <= t``: the rotated cone ``1 <= x t`` entry by entry."""
        (x,) = args
        return [square_cone(1, x, t)]


def inv_pos(x: Any) -> Expression:
    """Elementwise reciprocal of a positive argument.

    >>> from optdsl.modeling.atoms.inv_pos import inv_pos
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = inv_pos(x)
    >>> str(e), e.shape, e.curvature.value
    ('inv_pos(x)', (3,), 'convex')
    """
    return InvPos(x)
