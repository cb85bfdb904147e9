"""The Newton step both interior points take: solves of the step system and step lengths.

Both solvers step on the barrier KKT system of
``min f(x) s.t. A x = b, g(x) + s = 0, s >= 0`` with multipliers ``nu`` (equalities)
and ``lam >= 0`` (inequalities). With ``H`` the (Lagrangian) Hessian, ``A`` the
equality Jacobian and ``G`` the inequality Jacobian, each step solves::

    H dx + A' dnu + G' dlam = r1
    A dx                    = r2          (p rows)
    G dx - D dlam           = r3,   D = diag(s / lam)   (m rows)

through a symmetric scaled form (:func:`newton_kkt_solve`, any ``H``) or, for a
convex QP, condensed to ``n x n`` (:func:`condensed_kkt_solve`).

On a CPU, jaxlib's batched LAPACK kernels (what ``vmap`` makes of a factorisation
or a triangular solve) wait on the shared intra-op thread pool; two of them
running side by side can deadlock a small pool (two cores). The solves here are
therefore written as one chain of dependent LAPACK calls.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
from jax import lax

from optdsl.runtime.lu import LU, lu_factor, lu_solve
from optdsl.runtime.solvers.base import run_if

#: Steps of iterative refinement against the unregularised system after each regularised solve.
REFINE = 1
#: :func:`condensed_kkt_solve` trusts its Cholesky factors while their squared pivot ratio (about the
#: reciprocal condition number) stays above this many machine epsilons.
CONDENSED_MIN_RCOND = 100
#: Fewest columns from which :func:`single_entries` looks for rows with one non-zero: below it the dense
#: product of :func:`weighted_gram` costs about what the test and its branch do.
SINGLE_ENTRY_MIN_COLUMNS = 32


class SingleEntries(NamedTuple):
    """Rows of a matrix with at most one non-zero each: ``single`` whether all of them are, ``column`` where
    each row's non-zero is (0 for a zero row)."""

    single: jax.Array
    column: jax.Array


def single_entries(G: jax.Array) -> SingleEntries | None:
    """The :class:`SingleEntries` of the rows of ``G`` (a traced test: the data decide), or None for fewer than
    :data:`SINGLE_ENTRY_MIN_COLUMNS` columns."""
    if G.shape[1] < SINGLE_ENTRY_MIN_COLUMNS:
        return None
    nonzero = G != 0
    return SingleEntries(jnp.all(jnp.sum(nonzero, axis=1) <= 1), jnp.argmax(nonzero, axis=1))


def weighted_gram(G: jax.Array, w: jax.Array, entries: SingleEntries | None) -> jax.Array:
    """``G' diag(w) G``. Where every row of ``G`` has at most one non-zero (``entries``: bounds on variables) it
    is diagonal, and formed in ``O(m)`` from those entries instead of ``2 m n^2`` flops."""
    def dense() -> jax.Array:
        return G.T @ (w[:, None] * G)

    if entries is None:
        return dense()
    n = G.shape[1]

    def diagonal() -> jax.Array:
        value = jnp.take_along_axis(G, entries.column[:, None], axis=1)[:, 0]
        return jnp.zeros((n, n), G.dtype).at[entries.column, entries.column].add(w * value ** 2)

    return lax.cond(entries.single, diagonal, dense)


def max_step(v: jax.Array, dv: jax.Array) -> jax.Array:
    """Largest ``alpha`` in ``(0, 1]`` with ``v + alpha dv >= 0`` (``v > 0``); 1 for empty ``v``."""
    ratio = jnp.where(dv < 0, -v / jnp.where(dv < 0, dv, -1), jnp.inf)
    return jnp.minimum(jnp.min(ratio, initial=jnp.inf), 1).astype(v.dtype)


def newton_kkt_solve(H: jax.Array, A: jax.Array, G: jax.Array, w: jax.Array, reg: jax.Array):
    """Solve the step system of the module docstring; ``w = lam / s`` (so ``D = 1 / w``).

    Substitutes ``dlam = W^(1/2) y`` and factorises (LU) the symmetric scaled system
    ``[[H + reg I, A', G' W^(1/2)], [A, -reg I, 0], [W^(1/2) G, 0, -I]]``, whose entries
    stay moderate while ``w`` spans many orders of magnitude near a solution (the
    reduced form ``H + G' W G`` would square that spread). :data:`REFINE` steps of
    iterative refinement on the unregularised system follow, so ``reg`` only makes the
    factorisation safe (dependent equalities, a singular ``H`` in an LP) and the solve
    stays bounded where the unregularised system is singular. Returns a function
    ``(r1, r2, r3) -> (dx, dnu, dlam)`` reusing the factorisation (one Newton matrix,
    several right-hand sides).
    """
    return _refined(functools.partial(_scaled_lu_solve, _scaled_lu_factor(H, A, G, w, reg)), H, A, G, w)


def _scaled_lu_factor(H, A, G, w, reg) -> tuple[LU, jax.Array]:
    """The LU factors of the scaled matrix of :func:`newton_kkt_solve`, and ``W^(1/2)``."""
    n, p, m = H.shape[0], A.shape[0], G.shape[0]
    dtype = H.dtype
    root = jnp.sqrt(w)
    SG = root[:, None] * G
    zeros = lambda r, c: jnp.zeros((r, c), dtype)
    factors = lu_factor(jnp.block([[H + reg * jnp.eye(n, dtype=dtype), A.T, SG.T],
                                   [A, -reg * jnp.eye(p, dtype=dtype), zeros(p, m)],
                                   [SG, zeros(m, p), -jnp.eye(m, dtype=dtype)]]))
    return factors, root


def _scaled_lu_solve(factors: tuple[LU, jax.Array], e1: jax.Array, e2: jax.Array,
                     e3: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The regularised step (before refinement) by the factors of :func:`_scaled_lu_factor`."""
    lu, root = factors
    n, p = e1.shape[0], e2.shape[0]
    sol = lu_solve(lu, jnp.concatenate([e1, e2, root * e3]))
    return sol[:n], sol[n:n + p], root * sol[n + p:]


#: A solve of the step system: ``(r1, r2, r3) -> (dx, dnu, dlam)`` (or a caller's own right-hand sides).
Solve = Callable[..., tuple]


def condensed_kkt_solve(H: jax.Array, A: jax.Array, G: jax.Array, w: jax.Array, reg: jax.Array,
                        active: jax.Array = True, gram: jax.Array | None = None,
                        refined: Callable[[Solve], Solve] | None = None) -> Solve:
    """:func:`newton_kkt_solve` for a positive semidefinite ``H`` (a convex QP), mostly through Cholesky.

    Eliminates ``dlam = W (G dx - r3)`` and factorises ``K = H + G' W G + reg I``
    (``n x n``) and the Schur complement ``S = A K^-1 A' + reg I`` (``p x p``) of the
    same regularised system, instead of one LU of order ``n + p + m``: about
    ``((n + p + m) / n)^3`` times fewer flops when there are many inequalities. ``K``
    carries the spread of ``w`` squared, and ``dlam`` amplifies the error of ``dx`` by
    ``w``; where the Cholesky pivots show ``K`` too ill-conditioned for that (squared
    pivot ratio below :data:`CONDENSED_MIN_RCOND` epsilons, e.g. a degenerate LP near
    its solution) each call of the returned solve factorises the scaled LU of
    :func:`newton_kkt_solve` and solves with it instead, only then
    (:func:`~optdsl.runtime.solvers.base.run_if`). The factors live within that call: carried from one call to
    the next, they would need a placeholder of order ``n + p + m`` copied at every factorisation, ill or not,
    which cost a fifth of a Markowitz SOCP's solve (``n + m = 604``). A caller solving several right-hand sides
    with one matrix passes them to one call (``vmap``), so the LU is factorised once for them.
    ``active``: False for an instance whose result is discarded (a
    converged instance of a batch that is still iterating), so that its extreme ``w``
    never sends the batch to the LU. ``gram``: ``G' W G``, where the caller forms it more cheaply from the
    structure of ``G`` (the matrix products with ``G`` still use ``G``). ``refined``: builds the returned solve
    from a regularised solve of the step system; by default :data:`REFINE` steps of refinement as there, or a
    caller's own refinement against a system of its own (with its own right-hand sides).
    """
    n, p = H.shape[0], A.shape[0]
    dtype = H.dtype
    eye = jnp.eye(n, dtype=dtype)
    gram = weighted_gram(G, w, single_entries(G)) if gram is None else gram
    chol = jnp.linalg.cholesky(H + gram + reg * eye)
    KA = jsl.cho_solve((chol, True), A.T)
    schur = jnp.linalg.cholesky(A @ KA + reg * jnp.eye(p, dtype=dtype))
    pivots = jnp.concatenate([jnp.diagonal(chol), jnp.diagonal(schur)])
    ratio = jnp.min(pivots, initial=jnp.inf) / jnp.max(pivots, initial=0)
    ill = active & ~(ratio ** 2 > CONDENSED_MIN_RCOND * jnp.finfo(dtype).eps)
    # Where ill the Cholesky solves are discarded: a harmless factor keeps them finite, and taking it
    # from ill (the last factorisation) keeps them after every factorisation, so no two LAPACK calls
    # run side by side (jaxlib's batched LAPACK kernels can then deadlock a small thread pool).
    chol = jnp.where(ill, eye, chol)
    schur = jnp.where(ill, jnp.eye(p, dtype=dtype), schur)
    if refined is None:
        refined = functools.partial(_refined, H=H, A=A, G=G, w=w)

    def cholesky_solve(e1, e2, e3):
        y = jsl.cho_solve((chol, True), e1 + G.T @ (w * e3))
        dnu = jsl.cho_solve((schur, True), A @ y - e2)
        dx = y - KA @ dnu
        return dx, dnu, w * (G @ dx - e3)

    def lu_solve_all(H, A, G, w, *rhs):
        return refined(functools.partial(_scaled_lu_solve, _scaled_lu_factor(H, A, G, w, reg)))(*rhs)

    by_cholesky = refined(cholesky_solve)

    def solve(*rhs):
        # The matrices are operands of run_if (masked there), so that XLA cannot hoist the LU out of its loop; it
        # is factorised after the Cholesky solves (run_if's default) for the same reason as above.
        return run_if(ill, lu_solve_all, (H, A, G, w, *rhs), by_cholesky(*rhs))

    return solve


def _refined(scaled_solve: Solve, H: jax.Array, A: jax.Array, G: jax.Array, w: jax.Array) -> Solve:
    """``scaled_solve`` (a regularised solve of the step system) followed by :data:`REFINE` refinement steps.

    Each step adds the regularised solve of the unregularised system's residual. The
    steps are unconditional: one step did as well as up to three (each kept only if it
    lowered the residual) on random and degenerate QPs and LPs, and that test cost a
    fifth of the solver's time. Where the unregularised system is singular a step at
    most doubles the bounded null-space part of the regularised solve. The steps are
    written out, not looped: a small problem's step is dominated by per-operation
    overhead, which a loop adds to.
    """
    def residual(r1, r2, r3, dx, dnu, dlam):
        return (r1 - (H @ dx + A.T @ dnu + G.T @ dlam), r2 - A @ dx, r3 - (G @ dx - dlam / w))

    def solve(r1, r2, r3):
        sol = scaled_solve(r1, r2, r3)
        for _ in range(REFINE):
            sol = tuple(a + c for a, c in zip(sol, scaled_solve(*residual(r1, r2, r3, *sol))))
        return sol

    return solve


def regularisation(dtype) -> jax.Array:
    """The static diagonal regularisation ``reg`` of the step solves, ``sqrt(eps)`` (undone by refinement)."""
    return jnp.asarray(jnp.finfo(dtype).eps ** 0.5, dtype)
