"""The matrices a PDLP solve accepts: dense arrays, ``jax.experimental.sparse`` matrices, or linear operators.

Every matrix is used only through its products (:func:`matvec`, :func:`rmatvec`); the entry-wise
reductions that diagonal preconditioning needs (:func:`abs_rows`) exist for dense and sparse
matrices and are None for an operator, whose entries are not known.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Union

import jax
import jax.numpy as jnp

from optdsl.errors import ArgumentError, ArgumentTypeError
from optdsl.runtime.sparse import as_bcoo, bcoo, is_sparse, with_dtype

if TYPE_CHECKING:
    from jax.experimental.sparse import BCOO

Array = jax.Array


@jax.tree_util.register_pytree_node_class
class LinearOperator:
    """A matrix of shape ``(rows, cols)`` given by its products.

    ``matvec(v) = M v`` and ``rmatvec(w) = M' w``; with ``data`` given they are called as
    ``matvec(data, v)`` and ``rmatvec(data, w)``, so the operator's numbers are a pytree leaf
    that ``jit`` and ``vmap`` see (an operator closing over traced values would leak them).
    ``rmatvec=None`` transposes ``matvec`` with ``jax.linear_transpose`` (``matvec`` must be
    linear JAX code). A symmetric matrix (the quadratic term) needs only ``matvec``.

    Example:
        >>> M = jnp.array([[1.0, 2.0], [0.0, 3.0]])
        >>> op = LinearOperator((2, 2), lambda M, v: M @ v, data=M)
        >>> rmatvec(op, jnp.ones(2)).tolist()
        [1.0, 5.0]
    """

    def __init__(self, shape: tuple[int, int], matvec: Callable, rmatvec: Callable | None = None,
                 data: Any = None) -> None:
        if len(shape) != 2 or not all(isinstance(s, int) and s >= 0 for s in shape):
            raise ArgumentError(f"LinearOperator shape must be two non-negative ints (rows, cols), got {shape}")
        self.shape = tuple(shape)
        self.matvec_fn = matvec
        self.rmatvec_fn = rmatvec
        self.data = data

    def _call(self, fn: Callable, v: Array) -> Array:
        return fn(v) if self.data is None else fn(self.data, v)

    def matvec(self, v: Array) -> Array:
        """``M v``."""
        return self._call(self.matvec_fn, v)

    def rmatvec(self, w: Array) -> Array:
        """``M' w`` (by transposing ``matvec`` when no ``rmatvec`` was given)."""
        if self.rmatvec_fn is not None:
            return self._call(self.rmatvec_fn, w)
        primal = jax.ShapeDtypeStruct((self.shape[1],), w.dtype)
        return jax.linear_transpose(self.matvec, primal)(w)[0]

    def tree_flatten(self):
        return (self.data,), (self.shape, self.matvec_fn, self.rmatvec_fn)

    @classmethod
    def tree_unflatten(cls, aux, children):
        shape, matvec_fn, rmatvec_fn = aux
        return cls(shape, matvec_fn, rmatvec_fn, children[0])


Matrix = Union[Array, "BCOO", LinearOperator]


def as_matrix(name: str, value: Any, shape: tuple[int, int], dtype: Any) -> Matrix:
    """``value`` as a dense array, a 2-D BCOO matrix or an operator of ``shape`` and ``dtype``; else a typed error.

    A BCSR (or other sparse format) becomes BCOO; batch or dense dimensions of a sparse matrix are refused.
    """
    if isinstance(value, LinearOperator):
        if value.shape != shape:
            raise ArgumentError(f"{name} must have shape {shape}, got a LinearOperator of shape {value.shape}")
        for label, fn, size, out in (("matvec", value.matvec, shape[1], shape[0]),
                                     ("rmatvec", value.rmatvec, shape[0], shape[1])):
            got = jax.eval_shape(fn, jax.ShapeDtypeStruct((size,), dtype))
            if getattr(got, "shape", None) != (out,):
                raise ArgumentError(f"{name}.{label} must map shape ({size},) to ({out},), got "
                                    f"{getattr(got, 'shape', type(got).__name__)}")
        return value
    if is_sparse(value):
        value = as_bcoo(value)
        if value.n_batch or value.n_dense:
            raise ArgumentError(f"{name} must be a plain 2-D sparse matrix (no batch or dense dimensions), got "
                                f"n_batch={value.n_batch}, n_dense={value.n_dense}")
    else:
        value = jnp.asarray(value)
    if tuple(value.shape) != shape:
        raise ArgumentError(f"{name} must have shape {shape}, got {tuple(value.shape)}")
    if not jnp.issubdtype(value.dtype, jnp.floating) and not jnp.issubdtype(value.dtype, jnp.integer):
        raise ArgumentTypeError(f"{name} must hold real numbers, got dtype {value.dtype}")
    return with_dtype(value, dtype) if is_sparse(value) else value.astype(dtype)


def matvec(M: Matrix, v: Array) -> Array:
    """``M v``."""
    return M.matvec(v) if isinstance(M, LinearOperator) else M @ v


def rmatvec(M: Matrix, w: Array) -> Array:
    """``M' w``."""
    if isinstance(M, LinearOperator):
        return M.rmatvec(w)
    return M.T @ w if is_sparse(M) else w @ M


def abs_rows(M: Matrix, col_scale: Array, reduce: str, transpose: bool = False) -> Array | None:
    """Per row of ``|M| diag(col_scale)`` (of ``M'`` when ``transpose``) its ``"max"`` or ``"sum"``; None for operators.

    Empty rows give 0. The row scaling of a preconditioner is applied by the caller.
    """
    if isinstance(M, LinearOperator):
        return None
    if is_sparse(M):
        rows, cols = (M.indices[:, 1], M.indices[:, 0]) if transpose else (M.indices[:, 0], M.indices[:, 1])
        size = M.shape[1] if transpose else M.shape[0]
        values = jnp.abs(M.data) * col_scale[cols]
        segment = jax.ops.segment_max if reduce == "max" else jax.ops.segment_sum
        return jnp.maximum(segment(values, rows, num_segments=size), 0)
    W = jnp.abs(M.T if transpose else M) * col_scale[None, :]
    return jnp.max(W, axis=1, initial=0) if reduce == "max" else jnp.sum(W, axis=1)


def restrict(M: Matrix, rows: Array, cols: Array) -> Matrix:
    """``M`` with the entries outside the ``rows`` x ``cols`` masks zeroed (static shape); an operator unchanged.

    Only for entry-wise reductions (:func:`abs_rows`): an operator has no entries to reduce.
    """
    if isinstance(M, LinearOperator):
        return M
    if is_sparse(M):
        keep = rows[M.indices[:, 0]] & cols[M.indices[:, 1]]
        return bcoo(jnp.where(keep, M.data, 0), M.indices, M.shape)
    return jnp.where(rows[:, None] & cols[None, :], M, 0)
