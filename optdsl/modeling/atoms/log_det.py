"""``log_det(X)``: ``log det X`` of a symmetric positive definite matrix (``-inf`` if not positive definite).

The domain is the symmetric matrices, as for ``X >> 0``: the conic form's PSD block holds
``X == X'`` (:mod:`optdsl.compiler.conic.canonical`), so a model such as
``maximize log_det(X) - trace(S @ X)`` has the one solution ``inv(S)`` (an antisymmetric part
of X would otherwise be free). The value is computed from ``(X + X') / 2``, which is X on the
domain and ignores rounding-level asymmetry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optdsl.modeling.affine.diag import diag
from optdsl.modeling.affine.stack import hstack, vstack
from optdsl.modeling.affine.sum import Sum
from optdsl.modeling.atom import Atom
from optdsl.modeling.atoms.log import Log
from optdsl.modeling.atoms.square_matrix import scalar_of_square
from optdsl.modeling.constraints import PSD, Constraint
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.expression import Expression
from optdsl.modeling.leaves import Variable
from optdsl.modeling.shapes import Shape


class LogDet(Atom):
    """``log det X``: concave on positive definite matrices, of unknown sign, smooth; its argument must be affine."""

    name = "log_det"
    restricted_domain = True

    def shape_from_args(self) -> Shape:
        return scalar_of_square(self.name, self._args[0].shape)

    def is_atom_convex(self) -> bool:
        return False

    def is_atom_concave(self) -> bool:
        return True

    def sign_from_args(self) -> Sign:
        return Sign.UNKNOWN

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.NONE

    def forward(self, X: jax.Array) -> jax.Array:
        diagonal = jnp.diagonal(jnp.linalg.cholesky((X + X.T) / 2))  # NaN unless positive definite
        definite = jnp.all(diagonal > 0)
        return jnp.where(definite, 2 * jnp.sum(jnp.log(jnp.where(definite, diagonal, 1))), -jnp.inf)

    def clip_to_domain(self, X: jax.Array) -> tuple[jax.Array]:
        """``X`` as it is: outside the positive definite matrices ``forward`` is ``-inf``, not NaN, and an optimum
        is never on that edge."""
        return (X,)

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Hypograph ``log det X >= t``: ``[[X, Z], [Z', D]] >> 0`` and ``t <= sum log diag Z``.

        Z is lower triangular and ``D = diag(diag Z)``. The block condition is ``X >= Z D^{-1} Z'``
        (X symmetric, as every PSD block asks), whose determinant is ``prod diag Z``; a Cholesky
        factor of X makes it tight.
        """
        (X,) = args
        size = X.shape[0]
        Z = Variable((size, size))
        D = diag(diag(Z))
        rows, cols = np.triu_indices(size, 1)
        upper = [Z[rows, cols] == 0] if rows.size else []
        return [*upper, PSD(vstack([hstack([X, Z]), hstack([Z.T, D])])), t <= Sum(Log(diag(Z)))]


def log_det(X: Any) -> Expression:
    """Log-determinant of a symmetric positive definite matrix (see the module docstring).

    >>> from optdsl.modeling.atoms.log_det import log_det
    >>> from optdsl.modeling.leaves import Variable
    >>> X = Variable((2, 2), name="X")
    >>> e = log_det(X)
    >>> str(e), e.shape, e.curvature.value
    ('log_det(X)', (), 'concave')
    """
    return LogDet(X)

