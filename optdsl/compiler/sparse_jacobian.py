"""The Jacobian of affine expressions in the packed variables, built from its non-zeros, never as a dense matrix.

A large LP or QP (``A @ x == b`` with ``A`` a sparse parameter and ``10^5`` variables) has
constraint data that fit in memory only as their non-zeros, where ``jax.jacfwd`` builds the dense
matrix. Here every node of an affine expression maps its arguments' Jacobians to its own:

- a variable is the identity on its slice of ``z``, a constant has no entries;
- indexing, reshaping, transposing, stacking, ``diag``, broadcasting, sums, ``cumsum`` and ``trace``
  add up, for each entry of the result, some entries of their arguments: which ones is fixed by the
  shapes, and is read off the node itself applied to integer positions (:func:`_rearranged`);
- scaling by a constant (``*``, ``/``, negation) multiplies rows;
- a product with a constant matrix combines rows by the matrix's entries: for a dense matrix, each
  row of the result holds every row it sums; for a sparse (BCOO) one, one batch of entries per
  stored entry, so a sparse parameter gives a Jacobian with as many entries as it has.

A Jacobian is kept in two layouts. *Slots*: every row of the result holds ``K`` entries (columns and
values, zero-padded) in row order, so that picking rows is array indexing. *Entries*: free
``(row, column, value)`` triples, which products with sparse matrices give; picking rows from those
goes through the static inverse of the pick. All index tables are numpy constants computed while
tracing; only values (and a sparse parameter's indices) are traced.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from optdsl.compiler.packing import Packing
from optdsl.errors import CompileError
from optdsl.modeling import Constant, Expression, Parameter, Variable
from optdsl.modeling.affine import (Add, Cumsum, Diag, Divide, Index, MatMul, Multiply, Negation, Reshape, Stack,
                                    Sum, Trace, Transpose)
from optdsl.modeling.evaluation import children_first, evaluate_operand
from optdsl.runtime.sparse import as_bcoo, bcoo, is_sparse

if TYPE_CHECKING:
    from jax.experimental.sparse import BCOO, JAXSparse

Array = jax.Array

#: Node types whose entries are entries of their arguments, each taken once (or zero for ``diag``'s fill).
_REARRANGING = (Diag, Index, Reshape, Stack, Transpose)


@dataclass(frozen=True)
class Entries:
    """Free ``(row, column, value)`` triples; repeated positions add up."""

    rows: Array
    cols: Array
    vals: Array


@dataclass(frozen=True)
class Jacobian:
    """The ``(size, n)`` Jacobian of an expression's entries (row-major) in the packed variables ``z``."""

    size: int
    n: int
    cols: Array | None  # (size, K) slots, or None for no slots
    vals: Array | None
    entries: tuple[Entries, ...] = ()

    @property
    def width(self) -> int:
        """``K``, the slots a row (0 without slots)."""
        return 0 if self.cols is None else self.cols.shape[1]

    @property
    def empty(self) -> bool:
        """No stored entries: the expression has no variables."""
        return self.cols is None and not self.entries

    @property
    def nse(self) -> int:
        """The number of stored entries (explicit zeros included)."""
        return self.size * self.width + sum(e.rows.shape[0] for e in self.entries)

    def scaled(self, c: Array) -> Jacobian:
        """``diag(c) J`` for ``c`` of shape ``(size,)``."""
        vals = None if self.vals is None else self.vals * c[:, None]
        return replace(self, vals=vals, entries=tuple(replace(e, vals=e.vals * c[e.rows]) for e in self.entries))

    def as_entries(self) -> Jacobian:
        """This Jacobian with its slots turned into entries."""
        if self.cols is None:
            return self
        rows = jnp.asarray(np.repeat(np.arange(self.size, dtype=np.int32), self.width))
        slots = Entries(rows, self.cols.ravel(), self.vals.ravel())
        return Jacobian(self.size, self.n, None, None, (slots, *self.entries))

    def dense_slots(self) -> Jacobian:
        """This Jacobian with every entry in slots of width ``n`` (its dense rows)."""
        dense = self.todense()
        return Jacobian(self.size, self.n, jnp.broadcast_to(jnp.arange(self.n, dtype=jnp.int32), dense.shape), dense)

    def todense(self, dtype: Any = None) -> Array:
        """The ``(size, n)`` array."""
        dtype = dtype or (self.vals.dtype if self.vals is not None else
                          self.entries[0].vals.dtype if self.entries else jnp.float64)
        out = jnp.zeros((self.size, self.n), dtype)
        rows, cols, vals = self._triples()
        return out.at[rows, cols].add(vals.astype(dtype))

    def bcoo(self) -> BCOO:
        """The stored entries as a BCOO matrix (repeated positions not summed)."""
        rows, cols, vals = self._triples()
        return bcoo(vals, jnp.stack([rows, cols], axis=1), (self.size, self.n))

    def _triples(self) -> tuple[Array, Array, Array]:
        parts = self.as_entries().entries
        if not parts:
            return (jnp.zeros((0,), jnp.int32),) * 2 + (jnp.zeros((0,)),)
        return tuple(jnp.concatenate([getattr(p, f) for p in parts]) for f in ("rows", "cols", "vals"))


def jacobian(exprs: Sequence[Expression], packing: Packing, params: Mapping[str, Any], dtype: Any) -> Jacobian:
    """The Jacobian of the entries of ``exprs`` (each raveled, stacked in order) in ``z``; every expression affine."""
    memo: dict[int, Jacobian] = {}
    for expr in exprs:
        for node in children_first(expr):
            if id(node) not in memo:
                memo[id(node)] = _bounded(_node(node, [memo[id(a)] for a in node.args], packing, params, dtype))
    return _bounded(_vstack([memo[id(e)] for e in exprs], packing.size))


def _bounded(J: Jacobian) -> Jacobian:
    """``J``, or its dense rows where it stores more entries than they have."""
    return J.dense_slots() if J.nse > J.size * J.n else J


def _node(node: Expression, args: list[Jacobian], packing: Packing, params: Mapping[str, Any], dtype: Any) -> Jacobian:
    n = packing.size
    if isinstance(node, Variable):
        cols = np.arange(packing.slice(node.name).start, packing.slice(node.name).stop, dtype=np.int32)[:, None]
        return Jacobian(node.size, n, jnp.asarray(cols), jnp.ones(cols.shape, dtype))
    varying = [not J.empty for J in args]
    if isinstance(node, (Parameter, Constant)) or not any(varying):
        return Jacobian(node.size, n, None, None)
    stacked = _vstack([J for J, v in zip(args, varying) if v], n)
    if isinstance(node, _REARRANGING):
        return _gather(stacked, _rearranged(node, varying), node.size)
    if isinstance(node, Add):
        terms = [a for a, v in zip(node.args, varying) if v]
        starts = np.cumsum([0] + [a.size for a in terms])
        src = [_broadcast_positions(a.shape, node.shape) + s for a, s in zip(terms, starts)]
        return _gather(stacked, np.stack(src, axis=1), node.size)
    if isinstance(node, Negation):
        return stacked.scaled(-jnp.ones((node.size,), dtype))
    if isinstance(node, Sum):
        return _gather(stacked, _summed_positions(node.args[0].shape, node.axis), node.size)
    if isinstance(node, Cumsum):
        return _gather(stacked, _cumulative_positions(node.args[0].shape, node.axis), node.size)
    if isinstance(node, Trace):
        return _gather(stacked, np.arange(node.args[0].size).reshape(node.args[0].shape).diagonal()[None, :], 1)
    if isinstance(node, (Multiply, Divide)):
        return _scaling(node, args, varying, params, dtype)
    if isinstance(node, MatMul):
        return _matmul(node, args, varying, params, dtype)
    raise CompileError(f"{node} is not affine in the variables in a way the sparse data builder knows "
                       f"(node {type(node).__name__})")


def _vstack(parts: Sequence[Jacobian], n: int) -> Jacobian:
    """The rows of ``parts`` one after another: slots padded to the widest where that at most doubles them,
    else every part's slots become entries."""
    if len(parts) == 1:
        return parts[0]
    size, width = sum(p.size for p in parts), max((p.width for p in parts), default=0)
    if size * width > 2 * sum(p.size * p.width for p in parts):
        parts = [p.as_entries() for p in parts]
        width = 0
    cols = vals = None
    if width:
        dtype = next(p.vals.dtype for p in parts if p.width)
        cols = jnp.concatenate([_padded(p.cols, p.size, width, jnp.int32) for p in parts])
        vals = jnp.concatenate([_padded(p.vals, p.size, width, dtype) for p in parts])
    starts = np.cumsum([0] + [p.size for p in parts])
    entries = tuple(replace(e, rows=e.rows + s) for p, s in zip(parts, starts) for e in p.entries)
    return Jacobian(size, n, cols, vals, entries)


def _padded(a: Array | None, rows: int, width: int, dtype: Any) -> Array:
    if a is None:
        return jnp.zeros((rows, width), dtype)
    return jnp.pad(a, ((0, 0), (0, width - a.shape[1])))


def _gather(J: Jacobian, src: np.ndarray, size: int, coef: Array | None = None) -> Jacobian:
    """Row ``r`` of the result is ``sum_k coef[r, k] * J[src[r, k]]`` (``src`` static, ``-1`` for nothing)."""
    src = np.asarray(src, dtype=np.int64).reshape(size, -1)
    w = src.shape[1]
    cols = vals = None
    if J.width:
        pick = jnp.asarray(np.where(src < 0, J.size, src).astype(np.int32))
        cols = jnp.pad(J.cols, ((0, 1), (0, 0)))[pick].reshape(size, w * J.width)
        picked = jnp.pad(J.vals, ((0, 1), (0, 0)))[pick]
        vals = (picked if coef is None else picked * coef.reshape(size, w)[:, :, None]).reshape(size, w * J.width)
    entries = tuple(_gather_entries(e, src, J.size, coef) for e in J.entries)
    return Jacobian(size, J.n, cols, vals, tuple(e for e in entries if e is not None))


def _gather_entries(e: Entries, src: np.ndarray, size_in: int, coef: Array | None) -> Entries | None:
    """:func:`_gather` on free entries, through the inverse of ``src``: for each source row, where it goes."""
    flat = src.ravel()
    where = np.flatnonzero(flat >= 0)
    if where.size == 0:
        return None
    order = where[np.argsort(flat[where], kind="stable")]
    sources = flat[order]
    counts = np.bincount(sources, minlength=size_in)
    rank = np.arange(order.size) - np.repeat(np.cumsum(counts) - counts, counts)[: order.size]
    table = np.full((size_in, int(counts.max())), -1, dtype=np.int64)
    table[sources, rank] = order
    slot = jnp.asarray(table.astype(np.int32))[e.rows]  # (e, r): flat positions in src, -1 for none
    valid = slot >= 0
    w = src.shape[1]
    vals = e.vals[:, None] if coef is None else e.vals[:, None] * coef.ravel()[jnp.maximum(slot, 0)]
    return Entries(jnp.where(valid, slot // w, 0).ravel(), jnp.broadcast_to(e.cols[:, None], slot.shape).ravel(),
                   jnp.where(valid, vals, 0).ravel())


def _rearranged(node: Expression, varying: list[bool]) -> np.ndarray:
    """For each entry of ``node``, the position of the argument entry it is (the ``varying`` arguments stacked),
    ``-1`` for a constant or a zero."""
    starts = np.cumsum([0] + [a.size if v else 0 for a, v in zip(node.args, varying)])
    with jax.ensure_compile_time_eval():
        positions = [jnp.arange(s + 1, s + a.size + 1, dtype=jnp.int32).reshape(a.shape) if v
                     else jnp.zeros(a.shape, jnp.int32) for a, s, v in zip(node.args, starts, varying)]
        return np.asarray(node.forward(*positions)).ravel().astype(np.int64) - 1


def _broadcast_positions(shape: tuple[int, ...], out: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(np.arange(math.prod(shape)).reshape(shape), out).ravel()


def _summed_positions(shape: tuple[int, ...], axis: int | None) -> np.ndarray:
    positions = np.arange(math.prod(shape)).reshape(shape)
    if axis is None:
        return positions.reshape(1, -1)
    return np.moveaxis(positions, axis, -1).reshape(-1, shape[axis])


def _cumulative_positions(shape: tuple[int, ...], axis: int) -> np.ndarray:
    moved = np.moveaxis(np.arange(math.prod(shape)).reshape(shape), axis, -1)
    length = shape[axis]
    lower = np.tril(np.ones((length, length), dtype=bool))
    src = np.where(lower, moved[..., None, :], -1)  # (..., i, j): entry j enters the sum at i when j <= i
    return np.moveaxis(src, -2, axis).reshape(-1, length)


def _scaling(node: Expression, args: list[Jacobian], varying: list[bool], params: Mapping[str, Any],
             dtype: Any) -> Jacobian:
    """``a * c``, ``c * a`` or ``a / c`` with ``c`` constant: broadcast ``a``, then scale its rows."""
    k = 0 if varying[0] else 1
    if isinstance(node, Divide) and k == 1:
        raise CompileError(f"{node}: a variable in a denominator is not affine")
    if all(varying):
        raise CompileError(f"{node}: a product of two variable expressions is not affine")
    c = node.args[1 - k].evaluate(params, dtype=dtype)  # a sparse value here is a ModelingError, as in evaluation
    c = jnp.broadcast_to(1 / c if isinstance(node, Divide) else c, node.shape).ravel()
    return _gather(args[k], _broadcast_positions(node.args[k].shape, node.shape), node.size).scaled(c)


def _matmul(node: MatMul, args: list[Jacobian], varying: list[bool], params: Mapping[str, Any],
            dtype: Any) -> Jacobian:
    """``M @ X`` or ``X @ M`` with ``M`` a constant matrix (dense or sparse) and ``X`` affine."""
    a, b = node.args
    left = varying[1]  # the constant is on the left
    if all(varying):
        raise CompileError(f"{node}: a product of two variable expressions is not affine")
    const, var = (a, b) if left else (b, a)
    J = args[1] if left else args[0]
    M = evaluate_operand(const, params, dtype)
    if const.ndim < 2:  # a vector: a row on the left, a column on the right
        M = jnp.reshape(M, (1, -1) if left else (-1, 1))
    shape = var.shape if var.ndim == 2 else ((var.size, 1) if left else (1, var.size))
    if J.entries:
        J = J.dense_slots()
    if J.width == 0:
        return Jacobian(node.size, J.n, None, None)
    cols, vals = J.cols.reshape(*shape, J.width), J.vals.reshape(*shape, J.width)
    if not left:  # X @ M = (M' X')': work on the transposed layout and transpose back at the end
        cols, vals, M = jnp.swapaxes(cols, 0, 1), jnp.swapaxes(vals, 0, 1), M.T
    out_rows, inner, other = M.shape[0], shape[0] if left else shape[1], shape[1] if left else shape[0]
    if is_sparse(M):
        return _sparse_product(M, cols, vals, node.size, J.n, left, out_rows, other)
    M = jnp.asarray(M, dtype)
    # result[l, j] = sum_i M[l, i] X[i, j]: row (l, j) holds X's row (i, j) for every i, scaled by M[l, i]
    out_cols = jnp.broadcast_to(jnp.swapaxes(cols, 0, 1)[None], (out_rows, other, inner, J.width))
    out_vals = M[:, None, :, None] * jnp.swapaxes(vals, 0, 1)[None]
    if not left:
        out_cols, out_vals = jnp.swapaxes(out_cols, 0, 1), jnp.swapaxes(out_vals, 0, 1)
    return Jacobian(node.size, J.n, out_cols.reshape(node.size, -1), out_vals.reshape(node.size, -1))


def _sparse_product(M: JAXSparse, cols: Array, vals: Array, size: int, n: int, left: bool, out_rows: int,
                    other: int) -> Jacobian:
    """``M X`` for sparse ``M`` (``(L, I)``) and ``X``'s slots ``(I, J, K)``: one batch of entries per stored entry."""
    M = as_bcoo(M)
    l, i = M.indices[:, 0], M.indices[:, 1]
    j = jnp.arange(other, dtype=jnp.int32)
    rows = (l[:, None] * other + j[None, :]) if left else (j[None, :] * out_rows + l[:, None])
    entry_cols = cols[i]  # (e, J, K)
    entry_vals = M.data[:, None, None] * vals[i]
    rows = jnp.broadcast_to(rows[:, :, None], entry_cols.shape)
    return Jacobian(size, n, None, None, (Entries(rows.ravel().astype(jnp.int32), entry_cols.ravel(),
                                                  entry_vals.ravel()),))
