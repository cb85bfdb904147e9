"""``exp(x)``: ``e^x`` entry by entry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optdsl.modeling.atom import Elementwise
from optdsl.modeling.constraints import Constraint, ExpCone
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.expression import Expression


class Exp(Elementwise):
    """``e^{x_i}``: convex, increasing, nonnegative, smooth."""

    name = "exp"

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return False

    def sign_from_args(self) -> Sign:
        return Sign.NONNEG

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.INCREASING

    def forward(self, x: jax.Array) -> jax.Array:
        return jnp.exp(x)

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Epigraph ``exp(x) <= t``: ``ExpCone(x, 1, t)`` entry by entry."""
        (x,) = args
        return [ExpCone(x, np.ones(x.shape), t)]


def exp(x: Any) -> Expression:
    """Elementwise exponential.

    >>> from optdsl.modeling.atoms.exp import exp
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = exp(x)
    >>> str(e), e.shape, e.curvature.value
    ('exp(x)', (3,), 'convex')
    """
    return Exp(x)
