"""``normNuc(X)``: the nuclear norm of a matrix, the sum of its singular values (cvxpy's spelling)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.affine.stack import hstack, vstack
from optdsl.modeling.affine.trace import trace
from optdsl.modeling.atoms.sigma_max import SingularValueNorm
from optdsl.modeling.constraints import PSD, Constraint
from optdsl.modeling.expression import Expression
from optdsl.modeling.leaves import Variable


class NormNuc(SingularValueNorm):
    """Sum of the singular values (not differentiable at rank-deficient X)."""

    name = "normNuc"

    def forward(self, X: jax.Array) -> jax.Array:
        return jnp.sum(jnp.linalg.svd(X, compute_uv=False))

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Epigraph ``normNuc(X) <= t``: ``[[U, X], [X', V]] >> 0`` and ``(tr U + tr V) / 2 <= t``.

        With ``X = P S Q'`` (its singular value decomposition), ``U = P S P'`` and ``V = Q S Q'``
        make the block PSD with ``tr U = tr V = sum S``.
        """
        (X,) = args
        rows, cols = X.shape
        U, V = Variable((rows, rows)), Variable((cols, cols))
        return [PSD(vstack([hstack([U, X]), hstack([X.T, V])])), (trace(U) + trace(V)) / 2 <= t]


def normNuc(X: Any) -> Expression:
    """Nuclear norm of a matrix: the sum of its singular values.

    >>> from optdsl.modeling.atoms.norm_nuc import normNuc
    >>> from optdsl.modeling.leaves import Variable
    >>> X = Variable((2, 3), name="X")
    >>> e = normNuc(X)
    >>> str(e), e.shape, e.curvature.value
    ('normNuc(X)', (), 'convex')
    """
    return NormNuc(X)
