"""``matrix_frac(x, P)``: ``x' P^{-1} x`` (``trace(X' P^{-1} X)`` for a matrix ``X``), P positive definite.

A ``P`` of parameters is trusted to be symmetric PSD (the atom is convex only there); the
compiled problem checks that trust on every call (:meth:`MatrixFrac.parameter_requirements`).
A variable ``P`` is kept PSD by the conic graph form itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.affine.reshape import reshape
from optdsl.modeling.affine.stack import hstack, vstack
from optdsl.modeling.affine.trace import trace
from optdsl.modeling.atom import Atom
from optdsl.modeling.constraints import PSD, Constraint
from optdsl.modeling.curvature import Curvature, Monotonicity, Sign
from optdsl.modeling.errors import ShapeError
from optdsl.modeling.expression import Expression
from optdsl.modeling.leaves import Variable
from optdsl.modeling.shapes import Shape


class MatrixFrac(Atom):
    """``x' P^{-1} x``: jointly convex in (x, P) for P positive definite, nonnegative, smooth."""

    name = "matrix_frac"

    def shape_from_args(self) -> Shape:
        x, P = (a.shape for a in self._args)
        if len(x) not in (1, 2) or P != (x[0], x[0]):
            raise ShapeError(f"matrix_frac: shapes {x} and {P} do not fit (x must be (n,) or (n, k) and P (n, n))")
        return ()

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return False

    def sign_from_args(self) -> Sign:
        return Sign.NONNEG

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.NONE

    def parameter_requirements(self) -> tuple[tuple[Expression, str], ...]:
        """A ``P`` of parameters was trusted to be a symmetric PSD matrix."""
        P = self._args[1]
        if P.curvature is Curvature.CONSTANT and P.parameters():
            return ((P, "symmetric"), (P, "psd"))
        return ()

    def forward(self, x: jax.Array, P: jax.Array) -> jax.Array:
        return jnp.sum(x * jnp.linalg.solve(P, x))

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Epigraph ``trace(X' P^{-1} X) <= t``: ``[[P, X], [X', T]] >> 0`` and ``trace(T) <= t``.

        By the Schur complement the block condition is ``T >= X' P^{-1} X`` for P positive
        definite; for a vector x, ``T`` is ``t`` itself.
        """
        x, P = args
        if x.ndim == 1:
            X, T, extra = reshape(x, (x.size, 1)), reshape(t, (1, 1)), []
        else:
            T = Variable((x.shape[1], x.shape[1]))
            X, extra = x, [trace(T) <= t]
        return [PSD(vstack([hstack([P, X]), hstack([X.T, T])])), *extra]


def matrix_frac(x: Any, P: Any) -> Expression:
    """Matrix fractional function ``x' P^{-1} x`` (trace form for a matrix ``x``).

    >>> from optdsl.modeling.atoms.matrix_frac import matrix_frac
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> X = Variable((2, 2), name="X")
    >>> e = matrix_frac(x[:2], X)
    >>> str(e), e.shape, e.curvature.value
    ('matrix_frac(x[:2], X)', (), 'convex')
    """
    return MatrixFrac(x, P)
