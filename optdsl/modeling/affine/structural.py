"""cvxpy's structural functions, built from the affine operators: ``vec``, ``diff``, ``kron``, ``bmat``,
``outer`` and ``upper_tri``.

Each returns an expression of indexing, reshaping, stacking, products and sums, so the DCP
rules, the derivatives and every lowering (QP detection included) see only operators they
know, and a model prints and writes to ``.opt`` as that expression.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from optdsl.modeling.affine.multiply import multiply
from optdsl.modeling.affine.reshape import reshape
from optdsl.modeling.affine.stack import hstack, vstack
from optdsl.modeling.affine.transpose import transpose
from optdsl.modeling.errors import ModelingError, ShapeError
from optdsl.modeling.expression import Expression, as_expression
from optdsl.modeling.shapes import normalize_axis


def vec(x: Any, order: str = "F") -> Expression:
    """The entries of ``x`` as a vector: column by column (``order="F"``, cvxpy's default) or row by row ("C").

    >>> from optdsl.modeling.affine.structural import vec
    >>> from optdsl.modeling.leaves import Variable
    >>> X = Variable((2, 3), name="X")
    >>> e = vec(X)
    >>> str(e), e.shape, e.curvature.value
    ("reshape(X', (6,))", (6,), 'affine')
    """
    x = as_expression(x)
    if order not in ("F", "C"):
        raise ModelingError(f"vec: order must be 'F' (by columns) or 'C' (by rows), got {order!r}")
    return reshape(transpose(x) if order == "F" and x.ndim == 2 else x, (x.size,))


def diff(x: Any, k: int = 1, axis: int = 0) -> Expression:
    """The ``k``-th order differences of ``x`` along ``axis`` (cvxpy's ``diff``; numpy's default axis is -1).

    >>> from optdsl.modeling.affine.structural import diff
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(4, name="x")
    >>> e = diff(x)
    >>> str(e), e.shape, e.curvature.value
    ('x[1:] - x[:-1]', (3,), 'affine')
    """
    x = as_expression(x)
    if x.ndim == 0:
        raise ShapeError(f"diff: {x} is a scalar; it needs at least one axis")
    axis = normalize_axis("diff", axis, x.shape)
    if not isinstance(k, (int, np.integer)) or not 0 <= k < x.shape[axis]:
        raise ModelingError(f"diff: k must be an integer in [0, {x.shape[axis]}) for {x} of shape {x.shape} "
                            f"along axis {axis}, got {k!r}")
    for _ in range(k):
        upper, lower = [slice(None)] * x.ndim, [slice(None)] * x.ndim
        upper[axis], lower[axis] = slice(1, None), slice(None, -1)
        x = x[tuple(upper)] - x[tuple(lower)]
    return x


def bmat(blocks: Sequence[Sequence[Any]]) -> Expression:
    """A block matrix from a list of block rows: ``bmat([[A, B], [C, D]])`` (``vstack`` of ``hstack``).

    >>> from optdsl.modeling.affine.structural import bmat
    >>> from optdsl.modeling.leaves import Variable
    >>> X = Variable((2, 2), name="X")
    >>> e = bmat([[X, 2 * X], [X.T, X]])
    >>> str(e), e.shape, e.curvature.value
    ("vstack([hstack([X, 2 * X]), hstack([X', X])])", (4, 4), 'affine')
    """
    if isinstance(blocks, Expression) or not all(isinstance(row, Sequence) for row in blocks) or not blocks:
        raise ModelingError("bmat: expected a non-empty list of block rows, each a list of matrices, "
                            "such as [[A, B], [C, D]]")
    return vstack([hstack(list(row)) for row in blocks])


def kron(a: Any, b: Any) -> Expression:
    """The Kronecker product of two matrices, one of them constant (or a parameter) for a DCP model.

    Written as the block matrix of the products ``a[i, j] * b``; the block entries of a
    constant ``a`` are constants and those of a constant ``b`` scale it, so it is affine.

    >>> import numpy as np
    >>> from optdsl.modeling.affine.structural import kron
    >>> from optdsl.modeling.leaves import Variable
    >>> X = Variable((2, 2), name="X")
    >>> e = kron(np.eye(2), X)
    >>> e.shape, e.curvature.value
    ((4, 4), 'affine')
    """
    a, b = as_expression(a), as_expression(b)
    if a.ndim != 2 or b.ndim != 2:
        raise ShapeError(f"kron: both arguments must be matrices, got shapes {a.shape} and {b.shape}")
    rows, cols = a.shape
    return bmat([[multiply(a[i, j], b) for j in range(cols)] for i in range(rows)])


def outer(x: Any, y: Any) -> Expression:
    """The outer product ``x y'`` of two vectors (one of them constant, or a parameter, for a DCP model).

    >>> from optdsl.modeling.affine.structural import outer
    >>> from optdsl.modeling.leaves import Parameter, Variable
    >>> x, a = Variable(3, name="x"), Parameter(2, name="a")
    >>> e = outer(x, a)
    >>> str(e), e.shape, e.curvature.value
    ('reshape(x, (3, 1)) @ reshape(a, (1, 2))', (3, 2), 'affine')
    """
    x, y = as_expression(x), as_expression(y)
    if x.ndim > 1 or y.ndim > 1:
        raise ShapeError(f"outer: both arguments must be vectors, got shapes {x.shape} and {y.shape}")
    return reshape(x, (x.size, 1)) @ reshape(y, (1, y.size))


def upper_tri(X: Any) -> Expression:
    """The entries of a square matrix above its diagonal, row by row, as a column ``(n (n - 1) / 2, 1)`` (cvxpy's).

    >>> from optdsl.modeling.affine.structural import upper_tri
    >>> from optdsl.modeling.leaves import Variable
    >>> X = Variable((3, 3), name="X")
    >>> e = upper_tri(X)
    >>> str(e), e.shape, e.curvature.value
    ('reshape(X[[0, 0, 1], [1, 2, 2]], (3, 1))', (3, 1), 'affine')
    """
    X = as_expression(X)
    if X.ndim != 2 or X.shape[0] != X.shape[1] or X.shape[0] < 2:
        raise ShapeError(f"upper_tri: shape {X.shape} is not a square matrix of order >= 2")
    rows, cols = np.triu_indices(X.shape[0], 1)
    return reshape(X[rows, cols], (rows.size, 1))
