"""``norm(x, p=2, axis=None, keepdims=False)``: the cvxpy-style entry point to the vector norms.

``p`` may be 1, 2, ``inf`` (or ``"inf"``), ``"fro"`` or any number >= 1. Norms are
entrywise: ``norm(X, "fro")`` is ``norm2(X)``. Induced matrix norms (``norm(X, 1)``,
``norm(X, 2)``, ``norm(X, inf)`` of a matrix with ``axis=None``) are not provided and raise,
rather than silently computing an entrywise norm a cvxpy user would not expect.
"""

from __future__ import annotations

import math
from typing import Any

from optdsl.modeling.atoms.norm2 import Norm2
from optdsl.modeling.atoms.pnorm import pnorm
from optdsl.modeling.errors import ModelingError
from optdsl.modeling.expression import Expression, as_expression


def norm(x: Any, p: float | str = 2, axis: int | None = None, keepdims: bool = False) -> Expression:
    """Vector p-norm of ``x`` (along ``axis``), or the Frobenius norm for ``p="fro"``.

    >>> from optdsl.modeling.atoms.norm import norm
    >>> from optdsl.modeling.leaves import Variable
    >>> X = Variable((2, 2), name="X")
    >>> e = norm(X, 'fro')
    >>> str(e), e.shape, e.curvature.value
    ('norm2(X)', (), 'convex')
    """
    x = as_expression(x)
    if p == "fro":
        if axis is not None:
            raise ModelingError(f"norm: the Frobenius norm of {x} takes no axis, got axis={axis}")
        return Norm2(x, keepdims=keepdims)
    if isinstance(p, str):
        if p not in ("inf", "Inf"):
            raise ModelingError(f"norm: p must be a number >= 1, 'inf' or 'fro', got {p!r}")
        p = math.inf
    if x.ndim == 2 and axis is None:
        raise ModelingError(
            f"norm: matrix norm p={p} of {x} (shape {x.shape}) is not supported; use norm(X, 'fro'), "
            "an entrywise norm1/norm2/norm_inf/pnorm, or give an axis"
        )
    return pnorm(x, p, axis=axis, keepdims=keepdims)
