"""The active-set KKT system solved on the host CPU, where its entries are known: a sparse LU, or LSMR when large.

MINRES (:mod:`.active_set`) needs a number of steps that grows with the condition number of the
system; an LP's system is its basis, whose condition number grows with its size, so MINRES takes
tens of thousands of steps where a sparse LU takes one factorisation. Up to
:data:`HOST_MAX_UNKNOWNS` unknowns the system is factorised by scipy's SuperLU (minimum-degree
ordering of ``K + K'``). A random sparse basis fills its LU to most of a dense one (order 9000:
61% of dense, 39 s), so a larger system is solved by LSMR on the restricted system, on the host: a
step costs sparse products with the active rows and columns only, about a quarter of a MINRES step
of the JAX program on the masked full-size system, and LSMR reaches a relative residual near 1e-10
where MINRES's recurrences stall near 1e-7 (the scale LP at n = 10^5, a basis of order 30 000:
some 50 000 LSMR steps). Either runs through ``jax.pure_callback``, and only on a CPU
(``lax.platform_dependent``): elsewhere :func:`solve` reports nothing and the caller keeps MINRES.
The system is the equilibrated one :func:`~.active_set.solve` poses, given by its entries
(:func:`entries`): dense and BCOO matrices have them, a :class:`~.operators.LinearOperator` has not.
"""

from __future__ import annotations

import functools
import threading

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from jax import lax
from scipy.sparse.csgraph import structural_rank

from optdsl.runtime.solvers.pdhg import problem as pb
from optdsl.runtime.solvers.pdhg.operators import LinearOperator, Matrix
from optdsl.runtime.sparse import is_sparse

Array = jax.Array
Triple = tuple[Array, Array, Array]
Entries = tuple[Array, Array, Array]

#: Largest system (unknowns of the active set) factorised, larger ones are solved by LSMR: the scale LP's basis
#: fills its LU to about 60% of dense, and a dense LU of this order takes 1.2 GB in float64.
HOST_MAX_UNKNOWNS = 12_000
#: LSMR steps per unknown a solve may take: the scale LP's basis at n = 10^5 takes 0.8 (50 000 for 60 000 unknowns),
#: and a wrong active set (a singular system) should cost a bounded multiple of that.
LSMR_STEPS = 2


def has_entries(prob: pb.Problem) -> bool:
    """Whether every matrix of ``prob`` is dense or BCOO (none an operator), so that :func:`entries` exists."""
    return not any(isinstance(M, LinearOperator) for M in (prob.P, prob.A, prob.G))


def _coo(M: Matrix) -> Entries:
    """``(rows, cols, values)`` of every stored entry of a dense or BCOO matrix."""
    if is_sparse(M):
        return M.indices[:, 0], M.indices[:, 1], M.data
    rows, cols = np.indices(M.shape)
    return jnp.asarray(rows.ravel()), jnp.asarray(cols.ravel()), M.ravel()


def entries(prob: pb.Problem, mask: Triple, scale: Triple) -> Entries:
    """Entries ``(rows, cols, values)`` of ``diag(s) [P A' G'; A 0 0; G 0 0] diag(s)`` on the flattened unknowns
    ``(x, nu, lam)``, ``s`` the ``scale``, with the rows and columns outside ``mask`` zeroed (duplicates add up)."""
    n, p = prob.c.shape[0], prob.b.shape[0]
    e, d_nu, d_lam = scale
    free, every, active = mask
    parts = []
    if prob.P is not None:
        i, j, v = _coo(prob.P)
        parts.append((i, j, jnp.where(free[i] & free[j], e[i] * v * e[j], 0)))
    for M, offset, d, on in ((prob.A, n, d_nu, every), (prob.G, n + p, d_lam, active)):
        i, j, v = _coo(M)
        value = jnp.where(on[i] & free[j], d[i] * v * e[j], 0)
        parts += [(i + offset, j, value), (j, i + offset, value)]
    return (jnp.concatenate([jnp.asarray(i, jnp.int32) for i, _, _ in parts]),
            jnp.concatenate([jnp.asarray(j, jnp.int32) for _, j, _ in parts]),
            jnp.concatenate([jnp.asarray(v, prob.c.dtype) for _, _, v in parts]))


#: SuperLU is not safe to call from two threads at once, and XLA may run two host callbacks of a program together.
_SUPERLU = threading.Lock()


def _lu(K: sp.csc_matrix, rhs: np.ndarray) -> np.ndarray | None:
    """``K^-1 rhs`` by SuperLU and one step of iterative refinement; None for a singular ``K``.

    A structurally singular ``K`` (no transversal: a wrong active set, dependent rows of a pattern) is refused
    before SuperLU sees it: SuperLU reports it as exactly singular, but only after calling BLAS with invalid sizes
    and corrupting the heap, which crashes the process a few hundred factorisations later.
    """
    if structural_rank(K) < K.shape[0]:
        return None
    with _SUPERLU:
        try:
            lu = spla.splu(K, permc_spec="MMD_AT_PLUS_A")
        except RuntimeError:  # SuperLU: "Factor is exactly singular"
            return None
        solution = lu.solve(rhs)
        return solution + lu.solve(rhs - K @ solution)


def _lsmr_run(M: sp.spmatrix, rhs: np.ndarray, target: float) -> np.ndarray:
    """LSMR on ``M u = rhs`` to the residual norm ``target``, in at most :data:`LSMR_STEPS` steps per row (and 100).
    Like MINRES it minimises the residual, on a singular system too."""
    norm = np.linalg.norm(rhs)
    if not norm > target:
        return np.zeros(M.shape[1])
    return spla.lsmr(M, rhs, atol=0, btol=target / norm, conlim=0, maxiter=LSMR_STEPS * M.shape[0] + 100)[0]


def _lsmr(K: sp.csc_matrix, rhs: np.ndarray, tol: float, primal: int) -> np.ndarray:
    """``K u = rhs`` to the relative residual ``tol`` by LSMR; ``primal``: how many leading unknowns are columns.

    A square LP basis ``C`` (no quadratic entries among the free columns, as many active rows as free columns)
    splits ``[0 C'; C 0] (x, y) = (f, g)`` into ``C x = g`` and ``C' y = f``: a step costs half as much, and a
    zero part (the right-hand side of a reverse-mode derivative) nothing.
    """
    target = tol * np.linalg.norm(rhs)
    if K[:primal, :primal].nnz or 2 * primal != K.shape[0]:
        return _lsmr_run(K, rhs, target)
    C = K[primal:, :primal].tocsr()
    return np.concatenate([_lsmr_run(C, rhs[primal:], target / np.sqrt(2)),
                           _lsmr_run(C.T.tocsr(), rhs[:primal], target / np.sqrt(2))])


def _host(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, unknown: np.ndarray, b: np.ndarray,
          tol: np.ndarray, skip: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """The callback: ``(u, ok)`` with ``K u = b`` on the ``unknown`` entries (``u = b`` elsewhere), the first
    ``columns`` entries of ``u`` those of ``x``."""
    rows, cols, values, unknown, b = (np.asarray(a) for a in (rows, cols, values, unknown, b))
    u = np.array(b)
    index = np.flatnonzero(unknown)
    size = index.size
    if skip or size == 0:
        return u, np.asarray(size == 0 and not skip)
    if not (np.all(np.isfinite(values)) and np.all(np.isfinite(b))):  # SuperLU is not given non-finite entries
        return u * 0, np.asarray(False)
    position = np.full(unknown.size, -1)
    position[index] = np.arange(size)
    keep = unknown[rows] & unknown[cols] & (values != 0)
    K = sp.csc_matrix((values[keep], (position[rows[keep]], position[cols[keep]])), shape=(size, size))
    rhs = b[index]
    factorised = size <= HOST_MAX_UNKNOWNS
    solution = _lu(K, rhs) if factorised else _lsmr(K, rhs, float(tol), int(np.count_nonzero(unknown[:columns])))
    if solution is None or not np.all(np.isfinite(solution)):
        return u * 0, np.asarray(False)
    u[index] = solution
    return u, np.asarray(not factorised or np.linalg.norm(rhs - K @ solution) <= tol * np.linalg.norm(rhs))


def solve(system: Entries, unknown: Array, b: Array, tol: Array, skip: Array, columns: int) -> tuple[Array, Array]:
    """``(u, final)``: the host's solution of the system of ``entries`` on ``unknown`` (``u = b`` elsewhere), and
    whether it is the answer: an LU solve that meets the relative residual ``tol``, or LSMR's result, which is final
    as MINRES's would be (it stops where its recurrences do, near 1e-10 on the scale LP's basis at n = 10^5).
    ``final`` is False off a CPU, where ``skip`` (nothing runs), for a singular LU and one that misses ``tol``:
    the caller then runs MINRES. ``columns``: the entries of ``x`` in the unknowns ``(x, nu, lam)``. Under
    ``vmap`` the instances are solved one after the other.
    """
    shapes = (jax.ShapeDtypeStruct(b.shape, b.dtype), jax.ShapeDtypeStruct((), jnp.bool_))
    system = tuple(lax.stop_gradient(a) for a in system)

    def on_cpu(b: Array, tol: Array, skip: Array) -> tuple[Array, Array]:
        return jax.pure_callback(functools.partial(_host, columns=columns), shapes, *system, unknown, b, tol, skip,
                                 vmap_method="sequential")

    def elsewhere(b: Array, tol: Array, skip: Array) -> tuple[Array, Array]:
        return jnp.zeros_like(b), jnp.zeros((), bool)

    return lax.platform_dependent(b, tol, skip, cpu=on_cpu, default=elsewhere)
