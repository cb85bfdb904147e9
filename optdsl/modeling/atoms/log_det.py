"""``log_det(X)``: ``log det X`` of a positive definite matrix (its symmetric part; ``-inf`` if not PD)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.atom import Atom
from optdsl.modeling.atoms.square_matrix import scalar_of_square
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.expression import Expression
from optdsl.modeling.shapes import Shape


class LogDet(Atom):
    """``log det X``: concave on positive definite matrices, of unknown sign, smooth; its argument must be affine."""

    name = "log_det"

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


def log_det(X: Any) -> Expression:
    """Log-determinant of a positive definite matrix (of ``(X + X') / 2``, which is X when X is symmetric).

    >>> from optdsl.modeling.atoms.log_det import log_det
    >>> from optdsl.modeling.leaves import Variable
    >>> X = Variable((2, 2), name="X")
    >>> e = log_det(X)
    >>> str(e), e.shape, e.curvature.value
    ('log_det(X)', (), 'concave')
    """
    return LogDet(X)
