"""``kl_div(x, y)``: ``x log(x/y) - x + y`` entry by entry (broadcasting); y where x = 0."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.scipy.special
import numpy as np

from optdsl.modeling.atom import Elementwise
from optdsl.modeling.constraints import Constraint, ExpCone
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.expression import Expression


class KlDiv(Elementwise):
    """``x log(x/y) - x + y``: jointly convex, nonnegative, smooth on x, y > 0; not monotone."""

    name = "kl_div"
    restricted_domain = True

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return False

    def sign_from_args(self) -> Sign:
        return Sign.NONNEG

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.NONE

    def forward(self, x: jax.Array, y: jax.Array) -> jax.Array:
        return jax.scipy.special.kl_div(x, y)

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Epigraph ``x log(x / y) - x + y <= t``: ``ExpCone(y - x - t, x, y)`` (rel_entr's cone at ``t + x - y``)."""
        x, y = (a + np.zeros(self.shape) if a.shape != self.shape else a for a in args)
        return [ExpCone(y - x - t, x, y)]


def kl_div(x: Any, y: Any) -> Expression:
    """Elementwise Kullback-Leibler term ``x log(x/y) - x + y`` (scipy.special.kl_div).

    >>> from optdsl.modeling.atoms.kl_div import kl_div
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> y = Variable(3, name="y")
    >>> e = kl_div(x, y)
    >>> str(e), e.shape, e.curvature.value
    ('kl_div(x, y)', (3,), 'convex')
    """
    return KlDiv(x, y)
