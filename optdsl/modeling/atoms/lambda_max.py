"""``lambda_max(X)``: the largest eigenvalue of the symmetric part ``(X + X') / 2``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optdsl.modeling.atom import Atom
from optdsl.modeling.atoms.square_matrix import scalar_of_square
from optdsl.modeling.constraints import PSD, Constraint
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.expression import Expression
from optdsl.modeling.shapes import Shape


class LambdaMax(Atom):
    """Largest eigenvalue of a symmetric matrix: convex, of unknown sign, not differentiable at ties."""

    name = "lambda_max"
    smooth = False

    def shape_from_args(self) -> Shape:
        return scalar_of_square(self.name, self._args[0].shape)

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return False

    def sign_from_args(self) -> Sign:
        return Sign.UNKNOWN

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.NONE

    def forward(self, X: jax.Array) -> jax.Array:
        return jnp.linalg.eigvalsh(X, symmetrize_input=True)[-1]

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Epigraph ``lambda_max(X) <= t``: ``t I - X >> 0`` (the PSD cone takes X's symmetric part)."""
        (X,) = args
        return [PSD(t * np.eye(X.shape[0]) - X)]


def lambda_max(X: Any) -> Expression:
    """Largest eigenvalue of a symmetric matrix (its symmetric part, if it is not symmetric).

    >>> from optdsl.modeling.atoms.lambda_max import lambda_max
    >>> from optdsl.modeling.leaves import Variable
    >>> X = Variable((2, 2), name="X")
    >>> e = lambda_max(X)
    >>> str(e), e.shape, e.curvature.value
    ('lambda_max(X)', (), 'convex')
    """
    return LambdaMax(X)
