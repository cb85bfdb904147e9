"""``sigma_max(X)``: the largest singular value of a matrix (its spectral norm, cvxpy's ``norm(X, 2)``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optdsl.modeling.affine.stack import hstack, vstack
from optdsl.modeling.atom import Atom
from optdsl.modeling.constraints import PSD, Constraint
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.errors import ShapeError
from optdsl.modeling.expression import Expression
from optdsl.modeling.shapes import Shape


class SingularValueNorm(Atom):
    """A norm of a matrix's singular values: a scalar, convex, nonnegative, not monotone in ``X``."""

    smooth = False

    def shape_from_args(self) -> Shape:
        shape = self._args[0].shape
        if len(shape) != 2:
            raise ShapeError(f"{self.name}: shape {shape} is not a matrix")
        return ()

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return False

    def sign_from_args(self) -> Sign:
        return Sign.NONNEG

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.NONE


class SigmaMax(SingularValueNorm):
    """Largest singular value (not differentiable at repeated values)."""

    name = "sigma_max"

    def forward(self, X: jax.Array) -> jax.Array:
        return jnp.linalg.svd(X, compute_uv=False)[0]

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Epigraph ``sigma_max(X) <= t``: ``[[t I, X], [X', t I]] >> 0``."""
        (X,) = args
        rows, cols = X.shape
        return [PSD(vstack([hstack([t * np.eye(rows), X]), hstack([X.T, t * np.eye(cols)])]))]


def sigma_max(X: Any) -> Expression:
    """Largest singular value of a matrix.

    >>> from optdsl.modeling.atoms.sigma_max import sigma_max
    >>> from optdsl.modeling.leaves import Variable
    >>> X = Variable((2, 3), name="X")
    >>> e = sigma_max(X)
    >>> str(e), e.shape, e.curvature.value
    ('sigma_max(X)', (), 'convex')
    """
    return SigmaMax(X)
