"""What the QP and NLP interior-point solvers share: Newton-KKT solves, step lengths, the KKT factorisation.

Both solvers take steps on the barrier KKT system of
``min f(x) s.t. A x = b, g(x) + s = 0, s >= 0`` with multipliers ``nu`` (equalities)
and ``lam >= 0`` (inequalities). With ``H`` the (Lagrangian) Hessian, ``A`` the
equality Jacobian and ``G`` the inequality Jacobian, each step solves::

    H dx + A' dnu + G' dlam = r1
    A dx                    = r2          (p rows)
    G dx - D dlam           = r3,   D = diag(s / lam)   (m rows)

solved through a symmetric scaled form (:func:`newton_kkt_solve`, any ``H``) or, for a
convex QP, condensed to ``n x n`` (:func:`condensed_kkt_solve`).

On a CPU, jaxlib's batched LAPACK kernels (what ``vmap`` makes of a factorisation
or a triangular solve) wait on the shared intra-op thread pool; two of them
running side by side can deadlock a small pool (two cores). The solves here are
therefore written as one chain of dependent LAPACK calls.

At the returned point both differentiate the root of the KKT residual map over
``z = (x, nu, lam)``, whose Jacobian is::

    J = [[H, A', G'], [A, 0, 0], [diag(lam) G, 0, diag(g)]]

:func:`factor_kkt` factorises ``J`` once; :func:`kkt_factored_solve` then costs
back-substitutions only (the ``factored_solve`` of
:func:`optdsl.runtime.implicit_diff.custom_root`).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
from jax import lax

from optdsl.runtime.solvers.base import per_instance, run_if

#: Steps of iterative refinement against the unregularised system after each regularised solve.
REFINE = 1
#: :func:`condensed_kkt_solve` trusts its Cholesky factors while their squared pivot ratio (about the
#: reciprocal condition number) stays above this many machine epsilons.
CONDENSED_MIN_RCOND = 100


class KKTAux(NamedTuple):
    """Solver report and KKT factorisation returned next to an interior-point solution (a pytree of arrays).

    ``iterations``, ``residual``, ``status``: as in :class:`~optdsl.runtime.solvers.base.SolverInfo`.
    ``singular``: bool, the KKT Jacobian ``J`` is (numerically) singular at the
    returned point -- strict complementarity fails for some constraint
    (``lam_i`` and ``g_i`` both ~0) or a pivot of its LU factorisation is tiny
    (dependent active constraints, a singular reduced Hessian); implicit
    derivatives are then least-squares ones. ``kkt_lu``, ``kkt_pivots``: LU factors of
    ``M = diag(row_scale) J`` (``N x N`` with ``N = n + p + m``). ``row_scale``: ``(N,)``,
    1 on the first ``n + p`` rows and ``1 / (lam_i + |g_i|)`` on the complementarity
    rows, so each row of ``M`` has unit scale. ``kkt_keep``: ``(N,)`` bool, False on the
    degenerate complementarity rows: :func:`kkt_factored_solve` uses the pseudo-inverse of
    ``M`` with those rows zeroed (the limit Jacobian's rows) when ``singular``.
    """

    iterations: jax.Array
    residual: jax.Array
    status: jax.Array
    singular: jax.Array
    kkt_lu: jax.Array
    kkt_pivots: jax.Array
    row_scale: jax.Array
    kkt_keep: jax.Array


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
    return _refined(_scaled_lu_solver(H, A, G, w, reg), H, A, G, w)


def _scaled_lu_solver(H, A, G, w, reg) -> Callable:
    """The regularised step (before refinement) from an LU of the scaled matrix of :func:`newton_kkt_solve`."""
    n, p, m = H.shape[0], A.shape[0], G.shape[0]
    dtype = H.dtype
    root = jnp.sqrt(w)
    SG = root[:, None] * G
    zeros = lambda r, c: jnp.zeros((r, c), dtype)
    lu = jsl.lu_factor(jnp.block([[H + reg * jnp.eye(n, dtype=dtype), A.T, SG.T],
                                  [A, -reg * jnp.eye(p, dtype=dtype), zeros(p, m)],
                                  [SG, zeros(m, p), -jnp.eye(m, dtype=dtype)]]))

    def scaled_solve(e1, e2, e3):
        sol = jsl.lu_solve(lu, jnp.concatenate([e1, e2, root * e3]))
        return sol[:n], sol[n:n + p], root * sol[n + p:]

    return scaled_solve


def condensed_kkt_solve(H: jax.Array, A: jax.Array, G: jax.Array, w: jax.Array, reg: jax.Array,
                        active: jax.Array = True):
    """:func:`newton_kkt_solve` for a positive semidefinite ``H`` (a convex QP), mostly through Cholesky.

    Eliminates ``dlam = W (G dx - r3)`` and factorises ``K = H + G' W G + reg I``
    (``n x n``) and the Schur complement ``S = A K^-1 A' + reg I`` (``p x p``) of the
    same regularised system, instead of one LU of order ``n + p + m``: about
    ``((n + p + m) / n)^3`` times fewer flops when there are many inequalities. ``K``
    carries the spread of ``w`` squared, and ``dlam`` amplifies the error of ``dx`` by
    ``w``; where the Cholesky pivots show ``K`` too ill-conditioned for that (squared
    pivot ratio below :data:`CONDENSED_MIN_RCOND` epsilons, e.g. a degenerate LP near
    its solution) each solve factorises and uses the scaled LU of
    :func:`newton_kkt_solve` instead, only then
    (:func:`~optdsl.runtime.solvers.base.run_if`; no factor of order ``n + p + m`` is
    kept otherwise). ``active``: False for an instance whose result is discarded (a
    converged instance of a batch that is still iterating), so that its extreme ``w``
    never sends the batch to the LU. Refinement as there.
    """
    n, p = H.shape[0], A.shape[0]
    dtype = H.dtype
    eye = jnp.eye(n, dtype=dtype)
    chol = jnp.linalg.cholesky(H + G.T @ (w[:, None] * G) + reg * eye)
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

    def lu_solve(H, A, G, w, e1, e2, e3):
        return _scaled_lu_solver(H, A, G, w, reg)(e1, e2, e3)

    def scaled_solve(e1, e2, e3):
        y = jsl.cho_solve((chol, True), e1 + G.T @ (w * e3))
        dnu = jsl.cho_solve((schur, True), A @ y - e2)
        dx = y - KA @ dnu
        # The LU starts after the Cholesky solves (its default value) for the same reason.
        return run_if(ill, lu_solve, (H, A, G, w, e1, e2, e3), (dx, dnu, w * (G @ dx - e3)))

    return _refined(scaled_solve, H, A, G, w)


def _refined(scaled_solve: Callable, H: jax.Array, A: jax.Array, G: jax.Array, w: jax.Array) -> Callable:
    """``scaled_solve`` (a regularised solve of the step system) followed by :data:`REFINE` refinement steps.

    Each step adds the regularised solve of the unregularised system's residual. The
    steps are unrolled and unconditional: one step did as well as up to three (each
    kept only if it lowered the residual) on random and degenerate QPs and LPs, and
    that test cost a fifth of the solver's time. Where the unregularised system is
    singular a step at most doubles the bounded null-space part of the regularised
    solve.
    """
    def residual(r1, r2, r3, dx, dnu, dlam):
        return (r1 - (H @ dx + A.T @ dnu + G.T @ dlam), r2 - A @ dx, r3 - (G @ dx - dlam / w))

    def solve(r1, r2, r3):
        sol = scaled_solve(r1, r2, r3)
        for _ in range(REFINE):
            sol = tuple(a + c for a, c in zip(sol, scaled_solve(*residual(r1, r2, r3, *sol))))
        return sol

    return solve


def kkt_jacobian(H: jax.Array, A: jax.Array, G: jax.Array, lam: jax.Array, g: jax.Array) -> jax.Array:
    """``J = [[H, A', G'], [A, 0, 0], [diag(lam) G, 0, diag(g)]]``, shape ``(n+p+m, n+p+m)``."""
    p, m = A.shape[0], G.shape[0]
    zeros = lambda r, c: jnp.zeros((r, c), H.dtype)
    return jnp.block([[H, A.T, G.T],
                      [A, zeros(p, p), zeros(p, m)],
                      [lam[:, None] * G, zeros(m, p), jnp.diag(g)]])


def factor_kkt(H: jax.Array, A: jax.Array, G: jax.Array, point: tuple, g: jax.Array, *,
               exact: bool, tol: float) -> tuple:
    """Factorise the KKT Jacobian at a returned ``point = (x, nu, lam)``; returns the last five :class:`KKTAux` fields.

    ``g``: the inequality values ``g(x) <= 0`` (``G x - h`` for a QP). Complementarity
    row ``i`` is scaled by ``1 / (lam_i + |g_i|)``. ``singular`` is set when a pivot of
    the scaled LU is below ``sqrt(eps)`` times the largest, or -- with ``exact`` (the
    residual ``lam * g = 0``, not a relaxed ``lam * g = -mu``) -- when strict
    complementarity fails: ``min(a_i, c_i) > tol^(1/4) max(a_i, c_i)``. Here
    ``a_i = lam_i |G_i| / L`` and ``c_i = |g_i| / (|G_i| X)`` are the multiplier and the
    distance of row ``i`` made unit-free: ``|G_i|`` is the row norm, ``X = max(|x|, |g_i| / |G_i|)``
    a length and ``L = max(|A'nu + G'lam|, |H| X, lam_i |G_i|)`` (``|grad f|`` at a KKT
    point) a gradient scale, so rescaling a constraint, the objective or ``x`` changes
    nothing. On the way to a solution ``lam_i |g_i| ~ mu -> 0``: the ratio ``min / max``
    goes to 0 where one of the two stays positive and stays of order one where both
    vanish (``lam_i = g_i = 0`` in the limit). Then the pseudo-inverse of the scaled
    matrix with those rows zeroed (the limit Jacobian's rows) gives a least-squares
    solve instead.
    """
    x, nu, lam = point
    dtype = H.dtype
    eps = jnp.finfo(dtype).eps
    n, p = H.shape[0], A.shape[0]
    size = lam + jnp.abs(g)
    comp_scale = 1 / jnp.maximum(size, jnp.finfo(dtype).tiny)
    row_scale = jnp.concatenate([jnp.ones(n + p, dtype), comp_scale])
    M = row_scale[:, None] * kkt_jacobian(H, A, G, lam, g)
    lu, pivots = jsl.lu_factor(M)
    diag_u = jnp.abs(jnp.diagonal(lu))
    pivot_small = ~(jnp.min(diag_u) > jnp.sqrt(eps) * jnp.max(diag_u))
    if exact:
        tiny = jnp.finfo(dtype).tiny
        inf = lambda v: jnp.max(jnp.abs(v), initial=0)
        row = jnp.linalg.norm(G, axis=1)
        row = jnp.where(row > 0, row, 1)
        lam_size, g_size = lam * row, jnp.abs(g) / row
        length = jnp.maximum(jnp.maximum(inf(x), inf(g_size)), tiny)
        gradient = jnp.maximum(jnp.maximum(inf(A.T @ nu + G.T @ lam), inf(H) * length), inf(lam_size))
        a = lam_size / jnp.maximum(gradient, tiny)
        c = g_size / length
        degenerate = jnp.minimum(a, c) > (tol ** 0.25) * jnp.maximum(a, c)
    else:
        degenerate = jnp.zeros_like(lam, dtype=bool)
    singular = pivot_small | jnp.any(degenerate)
    keep = jnp.concatenate([jnp.ones(n + p, bool), ~degenerate])
    return singular, lu, pivots, row_scale, keep


def kkt_factored_solve(aux: KKTAux, rhs: jax.Array, transpose: bool) -> jax.Array:
    """``J^-1 rhs`` (``J^-T rhs`` when ``transpose``) from the factorisation in ``aux``; back-substitutions only.

    ``J = diag(row_scale)^-1 M``, so ``J^-1 = M^-1 diag(row_scale)`` and
    ``J^-T = diag(row_scale) M^-T``. When ``aux.singular`` the inverse of ``M`` is
    replaced by the pseudo-inverse of ``M`` with the rows ``aux.kkt_keep`` drops zeroed
    (a least-squares solve; ``M`` is rebuilt from its LU factors and its SVD taken only
    then, see :func:`~optdsl.runtime.solvers.base.run_if`, and after the LU solve, not
    beside it); the forward and transposed operators stay exact transposes of each
    other, so forward- and reverse-mode derivatives agree either way.
    Batched, one instance after another on a CPU, so a singular instance's SVD is
    not taken for the whole batch.
    """
    return per_instance(lambda aux, rhs: _factored_solve(aux, rhs, transpose))(aux, rhs)


def _factored_solve(aux: KKTAux, rhs: jax.Array, transpose: bool) -> jax.Array:
    """:func:`kkt_factored_solve` of one instance."""
    N = aux.kkt_lu.shape[0]
    eps = jnp.finfo(aux.kkt_lu.dtype).eps

    def least_squares(lu, pivots, keep, b):
        # lu_factor gives M[perm] = L U.
        perm = lax.linalg.lu_pivots_to_permutation(pivots, N)
        M = ((jnp.tril(lu, -1) + jnp.eye(N, dtype=lu.dtype)) @ jnp.triu(lu))[jnp.argsort(perm)]
        pinv = jnp.linalg.pinv(jnp.where(keep[:, None], M, 0), rtol=jnp.sqrt(eps))
        return (pinv.T if transpose else pinv) @ b

    def inner(b):
        exact = jsl.lu_solve((aux.kkt_lu, aux.kkt_pivots), b, trans=int(transpose))
        return run_if(aux.singular, least_squares, (aux.kkt_lu, aux.kkt_pivots, aux.kkt_keep, b), exact)

    if transpose:
        return aux.row_scale * inner(rhs)
    return inner(aux.row_scale * rhs)
