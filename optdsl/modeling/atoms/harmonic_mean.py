"""``harmonic_mean(x)``: ``n / sum(1 / x)`` over the n entries of a nonnegative x (0 if an entry is 0)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optdsl.modeling.affine.reshape import reshape
from optdsl.modeling.affine.stack import vstack
from optdsl.modeling.affine.sum import Sum
from optdsl.modeling.atom import Atom
from optdsl.modeling.constraints import SOC, Constraint
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.expression import Expression
from optdsl.modeling.leaves import Variable
from optdsl.modeling.shapes import Shape


class HarmonicMean(Atom):
    """``n / sum(1 / x_i)``: concave, nonnegative, increasing, smooth on x > 0; ``-inf`` off x >= 0."""

    name = "harmonic_mean"
    restricted_domain = True

    def shape_from_args(self) -> Shape:
        return ()

    def is_atom_convex(self) -> bool:
        return False

    def is_atom_concave(self) -> bool:
        return True

    def sign_from_args(self) -> Sign:
        return Sign.NONNEG

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.INCREASING

    def forward(self, x: jax.Array) -> jax.Array:
        positive = x > 0
        inverse = jnp.where(positive, 1 / jnp.where(positive, x, 1), 0)
        inside = jnp.where(jnp.all(x >= 0), 0, -jnp.inf)
        return jnp.where(jnp.all(positive), x.size / jnp.sum(inverse), inside)

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Hypograph ``harmonic_mean(x) >= t``: ``s^2 <= z_i x_i`` (rotated cones), ``sum(z) <= n s``, ``t <= s``.

        Then ``s <= n / sum(1 / x)`` (``sum(s^2 / x_i) <= n s``), and s >= 0 leaves every t <= s possible.
        """
        (x,) = args
        size = x.size
        entries, s, z = reshape(x, (size,)), Variable(()), Variable(size)
        rotated = SOC(z + entries, vstack([2 * s * np.ones(size), z - entries]), axis=0)
        return [rotated, Sum(z) <= size * s, t <= s]


def harmonic_mean(x: Any) -> Expression:
    """Harmonic mean of the entries of a nonnegative ``x``.

    >>> from optdsl.modeling.atoms.harmonic_mean import harmonic_mean
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = harmonic_mean(x)
    >>> str(e), e.shape, e.curvature.value
    ('harmonic_mean(x)', (), 'concave')
    """
    return HarmonicMean(x)
