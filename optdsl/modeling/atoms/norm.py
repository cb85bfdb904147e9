"""``norm(x, p=2, axis=None, keepdims=False)``: the cvxpy-style entry point to the vector and matrix norms.

``p`` may be 1, 2, ``inf`` (or ``"inf"``), ``"fro"``, ``"nuc"`` or any number >= 1. Along an
axis, and of a vector, norms are entrywise. Of a matrix with ``axis=None`` they are cvxpy's
matrix norms: ``norm(X, "fro")`` is ``norm2(X)``, ``norm(X, 2)`` the largest singular value
(``sigma_max``; the Frobenius norm when X has one row or column), ``norm(X, "nuc")`` the sum
of the singular values (``normNuc``), ``norm(X, 1)`` the largest column sum of ``abs(X)`` and
``norm(X, inf)`` the largest row sum; other p of a matrix raise.
"""

from __future__ import annotations

import math
from typing import Any

from optdsl.modeling.affine.reshape import reshape
from optdsl.modeling.atoms.max import Max
from optdsl.modeling.atoms.norm1 import Norm1
from optdsl.modeling.atoms.norm2 import Norm2
from optdsl.modeling.atoms.norm_nuc import NormNuc
from optdsl.modeling.atoms.pnorm import pnorm
from optdsl.modeling.atoms.sigma_max import SigmaMax
from optdsl.modeling.errors import ModelingError
from optdsl.modeling.expression import Expression, as_expression


def norm(x: Any, p: float | str = 2, axis: int | None = None, keepdims: bool = False) -> Expression:
    """Vector p-norm of ``x`` (along ``axis``), or a matrix norm of a matrix (see the module docstring).

    >>> from optdsl.modeling.atoms.norm import norm
    >>> from optdsl.modeling.leaves import Variable
    >>> X = Variable((2, 2), name="X")
    >>> e = norm(X, 'fro')
    >>> str(e), e.shape, e.curvature.value
    ('norm2(X)', (), 'convex')
    >>> str(norm(X, 2)), str(norm(X, 1))
    ('sigma_max(X)', 'max(norm1(X, axis=0))')
    """
    x = as_expression(x)
    if p in ("fro", "nuc"):
        if axis is not None:
            raise ModelingError(f"norm: the {p!r} norm of {x} is a matrix norm and takes no axis, got axis={axis}")
        if p == "nuc":
            return _matrix_norm(NormNuc(x), keepdims)
        return Norm2(x, keepdims=keepdims)
    if isinstance(p, str):
        if p not in ("inf", "Inf"):
            raise ModelingError(f"norm: p must be a number >= 1, 'inf', 'fro' or 'nuc', got {p!r}")
        p = math.inf
    if x.ndim == 2 and axis is None:
        if p == 2:
            return Norm2(x, keepdims=keepdims) if 1 in x.shape else _matrix_norm(SigmaMax(x), keepdims)
        if p in (1, math.inf):
            return _matrix_norm(Max(Norm1(x, axis=0 if p == 1 else 1)), keepdims)
        raise ModelingError(
            f"norm: matrix norm p={p} of {x} (shape {x.shape}) is not supported; cvxpy's matrix norms are "
            "p = 1, 2, inf, 'fro' and 'nuc' (or give an axis for an entrywise norm)"
        )
    return pnorm(x, p, axis=axis, keepdims=keepdims)


def _matrix_norm(value: Expression, keepdims: bool) -> Expression:
    """A scalar matrix norm, as a (1, 1) matrix with ``keepdims``."""
    return reshape(value, (1, 1)) if keepdims else value
