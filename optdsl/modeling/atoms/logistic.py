"""``logistic(x)``: the softplus ``log(1 + e^x)`` entry by entry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax

from optdsl.modeling.atom import Elementwise
from optdsl.modeling.atoms.exp import Exp
from optdsl.modeling.constraints import Constraint
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.expression import Expression


class Logistic(Elementwise):
    """``log(1 + e^{x_i})``: convex, increasing, nonnegative, smooth."""

    name = "logistic"

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return False

    def sign_from_args(self) -> Sign:
        return Sign.NONNEG

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.INCREASING

    def forward(self, x: jax.Array) -> jax.Array:
        return jax.nn.softplus(x)

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Epigraph ``log(1 + exp(x)) <= t``: ``exp(-t) + exp(x - t) <= 1``, through ``exp``'s graph form."""
        (x,) = args
        return [Exp(-t) + Exp(x - t) <= 1]


def logistic(x: Any) -> Expression:
    """Elementwise softplus ``log(1 + exp(x))``.

    >>> from optdsl.modeling.atoms.logistic import logistic
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = logistic(x)
    >>> str(e), e.shape, e.curvature.value
    ('logistic(x)', (3,), 'convex')
    """
    return Logistic(x)
