"""``rel_entr(x, y)``: ``x log(x/y)`` entry by entry (broadcasting), 0 where x = 0."""

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


class RelEntr(Elementwise):
    """``x log(x/y)``: jointly convex, of unknown sign, smooth on x, y > 0; decreasing in y."""

    name = "rel_entr"
    restricted_domain = True

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return False

    def sign_from_args(self) -> Sign:
        return Sign.UNKNOWN

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.NONE if index == 0 else Monotonicity.DECREASING

    def forward(self, x: jax.Array, y: jax.Array) -> jax.Array:
        return jax.scipy.special.rel_entr(x, y)

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Epigraph ``x log(x / y) <= t``: ``ExpCone(-t, x, y)`` (``x exp(-t / x) <= y``) entry by entry."""
        x, y = (a + np.zeros(self.shape) if a.shape != self.shape else a for a in args)
        return [ExpCone(-t, x, y)]


def rel_entr(x: Any, y: Any) -> Expression:
    """Elementwise relative entropy ``x log(x/y)`` (scipy.special.rel_entr).

    >>> from optdsl.modeling.atoms.rel_entr import rel_entr
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> y = Variable(3, name="y")
    >>> e = rel_entr(x, y)
    >>> str(e), e.shape, e.curvature.value
    ('rel_entr(x, y)', (3,), 'convex')
    """
    return RelEntr(x, y)
