"""A sparse LU of the active-set KKT system on the host CPU, where the system's entries are known.

MINRES (:mod:`.active_set`) needs a number of steps that grows with the condition number of the
system; an LP's system is its basis, whose condition number grows with its size, so MINRES takes
tens of thousands of steps where a sparse LU takes one factorisation. The LU runs in scipy
(SuperLU, minimum-degree ordering of ``K + K'``) through ``jax.pure_callback``, and only on a CPU
(``lax.platform_dependent``): elsewhere :func:`lu_solve` reports ``ok = False`` and the caller keeps
MINRES. The system is the equilibrated one :func:`~.active_set.solve` poses, given by its entries
(:func:`entries`): dense and BCOO matrices have them, a :class:`~.operators.LinearOperator` has not.
A system of more than :data:`HOST_MAX_UNKNOWNS` unknowns, a singular one, and a solve that misses
``tol`` after one step of iterative refinement report ``ok = False`` too.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from jax import lax
from jax.experimental import sparse

from optdsl.runtime.solvers.pdhg import problem as pb
from optdsl.runtime.solvers.pdhg.operators import LinearOperator, Matrix

Array = jax.Array
Triple = tuple[Array, Array, Array]
Entries = tuple[Array, Array, Array]

#: Largest system (unknowns of the active set) factorised: the scale LP's basis fills its LU to about 60% of
#: dense, and a dense LU of this order takes 1.2 GB in float64.
HOST_MAX_UNKNOWNS = 12_000


def has_entries(prob: pb.Problem) -> bool:
    """Whether every matrix of ``prob`` is dense or BCOO (none an operator), so that :func:`entries` exists."""
    return not any(isinstance(M, LinearOperator) for M in (prob.P, prob.A, prob.G))


def _coo(M: Matrix) -> Entries:
    """``(rows, cols, values)`` of every stored entry of a dense or BCOO matrix."""
    if isinstance(M, sparse.BCOO):
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


def _host(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, unknown: np.ndarray, b: np.ndarray,
          tol: np.ndarray, skip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The callback: ``(u, ok)`` with ``K u = b`` on the ``unknown`` entries (``u = b`` elsewhere), by SuperLU."""
    rows, cols, values, unknown, b = (np.asarray(a) for a in (rows, cols, values, unknown, b))
    u = np.array(b)
    index = np.flatnonzero(unknown)
    size = index.size
    if skip or size == 0 or size > HOST_MAX_UNKNOWNS:
        return u, np.asarray(size == 0 and not skip)
    position = np.full(unknown.size, -1)
    position[index] = np.arange(size)
    keep = unknown[rows] & unknown[cols] & (values != 0)
    K = sp.csc_matrix((values[keep], (position[rows[keep]], position[cols[keep]])), shape=(size, size))
    rhs = b[index]
    try:
        lu = spla.splu(K, permc_spec="MMD_AT_PLUS_A")
    except RuntimeError:  # SuperLU: "Factor is exactly singular"
        return u, np.asarray(False)
    solution = lu.solve(rhs)
    solution = solution + lu.solve(rhs - K @ solution)
    residual = np.linalg.norm(rhs - K @ solution)
    ok = bool(np.isfinite(residual) and residual <= tol * np.linalg.norm(rhs))
    u[index] = solution if ok else 0
    return u, np.asarray(ok)


def lu_solve(system: Entries, unknown: Array, b: Array, tol: Array, skip: Array) -> tuple[Array, Array]:
    """``(u, ok)``: ``u`` solves the system of ``entries`` on ``unknown`` (``u = b`` elsewhere) to the relative
    residual ``tol`` where ``ok``; ``ok`` is False off a CPU, where ``skip`` (nothing is factorised) and where the LU
    is refused or fails (module docstring). Under ``vmap`` the instances are factorised one after the other.
    """
    shapes = (jax.ShapeDtypeStruct(b.shape, b.dtype), jax.ShapeDtypeStruct((), jnp.bool_))
    system = tuple(lax.stop_gradient(a) for a in system)

    def on_cpu(b: Array, tol: Array, skip: Array) -> tuple[Array, Array]:
        return jax.pure_callback(_host, shapes, *system, unknown, b, tol, skip, vmap_method="sequential")

    def elsewhere(b: Array, tol: Array, skip: Array) -> tuple[Array, Array]:
        return jnp.zeros_like(b), jnp.zeros((), bool)

    return lax.platform_dependent(b, tol, skip, cpu=on_cpu, default=elsewhere)
