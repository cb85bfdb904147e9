"""``entropy(x)``: ``-x log x`` entry by entry (0 at x = 0, -inf for x < 0)."""

from __future__ import annotations

from typing import Any

import jax
import jax.scipy.special

from optdsl.modeling.atom import Elementwise
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.expression import Expression


class Entropy(Elementwise):
    """``-x_i log x_i``: concave, not monotone, of unknown sign, smooth on x > 0."""

    name = "entropy"

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
