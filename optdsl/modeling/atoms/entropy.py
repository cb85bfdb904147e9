"""``entropy(x)``: ``-x log x`` entry by entry (0 at x = 0, -inf for x < 0)."""

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


class Entropy(Elementwise):
    """``-x_i log x_i``: concave, not monotone, of unknown sign, smooth on x > 0."""

    name = "entropy"
    restricted_domain = True

    def is_atom_convex(self) -> bool:
        return False

    def is_atom_concave(self) -> bool:
        return True

    def sign_from_args(self) -> Sign:
        return Sign.UNKNOWN

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.NONE

    def forward(self, x: jax.Array) -> jax.Array:
        return jax.scipy.special.entr(x)

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Hypograph ``-x log x >= t``: ``ExpCone(t, x, 1)`` (``x exp(t / x) <= 1``) entry by entry."""
        (x,) = args
        return [ExpCone(t, x, np.ones(x.shape))]


def entropy(x: Any) -> Expression:
    """Elementwise entropy ``-x log(x)``.

    >>> from optdsl.modeling.atoms.entropy import entropy
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = entropy(x)
    >>> str(e), e.shape, e.curvature.value
    ('entropy(x)', (3,), 'concave')
    """
    return Entropy(x)
