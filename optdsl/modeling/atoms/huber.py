"""``huber(x, M=1)``: the Huber function entry by entry, with cvxpy's scaling.

``huber(x, M) = x^2`` for ``|x| <= M`` and ``2 M |x| - M^2`` otherwise — twice the
textbook (and ``scipy.special.huber``) value, exactly as cvxpy defines it, so cvxpy
models mean the same here. ``M`` is a positive number fixed when the model is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.atom import Elementwise
from optdsl.modeling.atoms.abs import Abs
from optdsl.modeling.atoms.square import Square
from optdsl.modeling.constraints import Constraint
from optdsl.modeling.curvature import Monotonicity, Sign, sign_monotonicity
from optdsl.modeling.errors import ModelingError
from optdsl.modeling.expression import Expression, as_expression
from optdsl.modeling.leaves import Variable
from optdsl.modeling.numbers import real_number
from optdsl.modeling.printing import format_number


class Huber(Elementwise):
    """Quadratic near 0, linear in the tails: convex, nonnegative, once differentiable (smooth)."""

    name = "huber"

    def __init__(self, x: Any, M: float = 1.0):
        self.M = real_number(self.name, "M", M)
        if not 0 < self.M < float("inf"):
            raise ModelingError(f"huber: M must be a positive number, got {M}")
        super().__init__(as_expression(x))

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return False

    def sign_from_args(self) -> Sign:
        return Sign.NONNEG

    def monotonicity(self, index: int) -> Monotonicity:
        return sign_monotonicity(self._args[0].sign)

    def forward(self, x: jax.Array) -> jax.Array:
        magnitude = jnp.abs(x)
        return jnp.where(magnitude <= self.M, jnp.square(x), 2 * self.M * magnitude - self.M**2)

    def data(self) -> tuple:
        return (self.M,)

    def format_data(self) -> list[str]:
        return [] if self.M == 1 else [format_number(self.M)]

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Epigraph ``huber(x, M) <= t``: ``x = s + n`` with ``s^2 + 2 M |n| <= t``.

        Minimising ``s^2 + 2 M |x - s|`` over ``s`` gives ``x^2`` for ``|x| <= M`` and
        ``2 M |x| - M^2`` beyond, the atom's value.
        """
        (x,) = args
        s, n = Variable(self.shape), Variable(self.shape)
        return [x == s + n, Square(s) + 2 * self.M * Abs(n) <= t]


def huber(x: Any, M: float = 1.0) -> Expression:
    """Elementwise Huber function with threshold ``M`` (cvxpy's scaling, see the module docstring).

    >>> from optdsl.modeling.atoms.huber import huber
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = huber(x, 2)
    >>> str(e), e.shape, e.curvature.value
    ('huber(x, 2)', (3,), 'convex')
    """
    return Huber(x, M)
