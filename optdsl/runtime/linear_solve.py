"""Linear solvers with one signature, for the implicit-differentiation solves.

Every solver has the signature::

    solve(matvec, b, *, init=None, ridge=0.0, tol=None, maxiter=None) -> x

and returns ``x`` with ``(A + ridge * I) x = b`` where ``A`` is the linear map
``matvec`` (``solve_normal_cg`` is the exception: it solves the normal equations
``(A^T A + ridge * I) x = A^T b``, as JAXopt does). ``ridge=None`` means 0.
``b`` and ``x`` may be any pytree (``matvec`` maps the pytree to a pytree of the
same structure); solvers work on its flattened vector. Matrix-free
solvers (``solve_cg``, ``solve_minres``, ``solve_normal_cg``, ``solve_gmres``, ``solve_bicgstab``)
only call ``matvec``; dense solvers (``solve_lu``, ``solve_cholesky``,
``solve_qr``, ``solve_inv``) build the matrix with ``n`` matrix-vector products,
which is the right trade for small systems. ``solve_iterative_refinement``
wraps any of them to polish an inaccurate or regularised inner solve. ``tol``
is relative to ``||b||``; its default depends on the dtype (about ``4e-11`` in
float64, ``2e-5`` in float32), because implicit gradients are only as accurate
as this solve. Everything is ``lax`` control flow: the solvers run under
``jit`` and ``vmap`` on any device.

``solve_auto`` picks one from the size and the structure of the map.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
from jax import lax
from jax.flatten_util import ravel_pytree

from optdsl.errors import ArgumentError, ArgumentTypeError
from optdsl.runtime.lu import lu_factor, lu_solve
from optdsl.runtime.safe_math import safe_div

PyTree = Any
Matvec = Callable[[PyTree], PyTree]
LinearSolve = Callable[..., PyTree]

#: Largest system ``solve_auto`` materialises and factorises densely.
DENSE_MAX = 500


def default_tol(dtype: Any) -> float:
    """Default relative residual tolerance for a linear solve in ``dtype``."""
    return float(jnp.finfo(dtype).eps) ** (2.0 / 3.0)


def _flatten(matvec: Matvec, b: PyTree, ridge: Any):
    """Flat-vector view of ``b`` and of ``v -> matvec(v) + ridge * v``."""
    b_flat, unravel = ravel_pytree(b)
    ridge = 0.0 if ridge is None else ridge

    def mv(v):
        out = ravel_pytree(matvec(unravel(v)))[0]
        return out + ridge * v

    return mv, b_flat, unravel


def _setup(matvec, b, init, ridge, tol, maxiter, default_maxiter):
    mv, b_flat, unravel = _flatten(matvec, b, ridge)
    x0 = jnp.zeros_like(b_flat) if init is None else ravel_pytree(init)[0].astype(b_flat.dtype)
    tol = default_tol(b_flat.dtype) if tol is None else tol
    maxiter = default_maxiter(b_flat.shape[0]) if maxiter is None else maxiter
    threshold = tol * jnp.linalg.norm(b_flat)
    return mv, b_flat, unravel, x0, threshold, maxiter


def solve_cg(matvec: Matvec, b: PyTree, *, init: PyTree = None, ridge: float = 0.0,
             tol: float | None = None, maxiter: int | None = None) -> PyTree:
    """Conjugate gradient for a symmetric positive definite map."""
    mv, b, unravel, x0, threshold, maxiter = _setup(
        matvec, b, init, ridge, tol, maxiter, lambda n: 10 * n + 100)

    r0 = b - mv(x0)

    def cond(state):
        _, r, _, _, k = state
        return (jnp.linalg.norm(r) > threshold) & (k < maxiter)

    def body(state):
        x, r, p, rs, k = state
        ap = mv(p)
        alpha = safe_div(rs, jnp.vdot(p, ap))
        x = x + alpha * p
        r = r - alpha * ap
        rs_new = jnp.vdot(r, r)
        p = r + safe_div(rs_new, rs) * p
        return x, r, p, rs_new, k + 1

    x, *_ = lax.while_loop(cond, body, (x0, r0, r0, jnp.vdot(r0, r0), 0))
    return unravel(x)


def solve_minres(matvec: Matvec, b: PyTree, *, init: PyTree = None, ridge: float = 0.0,
                 tol: float | None = None, maxiter: int | None = None) -> PyTree:
    """MINRES (Paige-Saunders) for a symmetric map, definite or not.

    Short recurrences (a few vectors of memory, one product a step), and the residual norm falls
    monotonically: on a KKT (saddle-point) matrix it converges where CG may break down. On a
    singular consistent system it converges to a solution; otherwise it returns the iterate
    of least residual it reached.
    """
    mv, b, unravel, x0, threshold, maxiter = _setup(
        matvec, b, init, ridge, tol, maxiter, lambda n: 10 * n + 100)
    r = b - mv(x0)
    beta = jnp.linalg.norm(r)
    zeros, zero = jnp.zeros_like(b), jnp.zeros((), b.dtype)
    tiny = jnp.finfo(b.dtype).tiny

    def cond(state):
        *_, phibar, _, _, k = state
        return (phibar > threshold) & (k < maxiter)

    def body(state):
        x, r_old, r, w, w_old, beta, beta_old, dbar, eps, phibar, cs, sn, k = state
        v = safe_div(r, beta)
        y = mv(v) - safe_div(beta, beta_old) * r_old
        alpha = jnp.vdot(v, y)
        y = y - safe_div(alpha, beta) * r
        beta_new = jnp.linalg.norm(y)
        delta = cs * dbar + sn * alpha
        gbar = sn * dbar - cs * alpha
        gamma = jnp.maximum(jnp.hypot(gbar, beta_new), tiny)
        w_new = (v - eps * w_old - delta * w) / gamma
        cs_new, sn_new = gbar / gamma, beta_new / gamma
        return (x + cs_new * phibar * w_new, r, y, w_new, w, beta_new, beta, -cs * beta_new, sn * beta_new,
                sn_new * phibar, cs_new, sn_new, k + 1)

    state = (x0, zeros, r, zeros, zeros, beta, zero, zero, zero, beta, -jnp.ones((), b.dtype), zero, 0)
    x, *_ = lax.while_loop(cond, body, state)
    return unravel(x)


def solve_normal_cg(matvec: Matvec, b: PyTree, *, init: PyTree = None, ridge: float = 0.0,
                    tol: float | None = None, maxiter: int | None = None) -> PyTree:
    """CG on the normal equations ``(A^T A + ridge I) x = A^T b`` (JAXopt's meaning of ``ridge`` here).

    ``A`` may be non-square: ``x`` then lives in another space than ``b``, and
    ``init`` (any point of that space, e.g. zeros) must be given to say which.
    Works for any map of full column rank but squares its condition number;
    prefer GMRES, BiCGSTAB or a dense solve for square maps unless the map is
    far from symmetric and well conditioned.
    """
    example = b if init is None else init
    x_flat, unravel_x = ravel_pytree(example)
    b_flat = ravel_pytree(b)[0]

    def mv(v):
        return ravel_pytree(matvec(unravel_x(v)))[0]

    try:
        rmv = jax.linear_transpose(mv, x_flat)
    except TypeError as err:
        raise ArgumentTypeError(
            "solve_normal_cg: matvec does not accept a point shaped like b, so A is not square; pass init, "
            "a point of A's domain (e.g. zeros), to give the shape of the solution") from err

    def normal(v):
        return rmv(mv(v))[0]

    x = solve_cg(normal, rmv(b_flat.astype(x_flat.dtype))[0], init=None if init is None else x_flat, ridge=ridge,
                 tol=tol, maxiter=maxiter)
    return unravel_x(x)


def solve_bicgstab(matvec: Matvec, b: PyTree, *, init: PyTree = None, ridge: float = 0.0,
                   tol: float | None = None, maxiter: int | None = None) -> PyTree:
    """Stabilised biconjugate gradient for a general non-singular map."""
    mv, b, unravel, x0, threshold, maxiter = _setup(
        matvec, b, init, ridge, tol, maxiter, lambda n: 10 * n + 100)
    r0 = b - mv(x0)
    one = jnp.ones((), b.dtype)

    def cond(state):
        _, r, *_, k = state
        return (jnp.linalg.norm(r) > threshold) & (k < maxiter)

    def body(state):
        x, r, p, v, rho, alpha, omega, k = state
        rho_new = jnp.vdot(r0, r)
        beta = safe_div(rho_new, rho) * safe_div(alpha, omega)
        p = r + beta * (p - omega * v)
        v = mv(p)
        alpha = safe_div(rho_new, jnp.vdot(r0, v))
        s = r - alpha * v
        t = mv(s)
        omega = safe_div(jnp.vdot(t, s), jnp.vdot(t, t))
        x = x + alpha * p + omega * s
        r = s - omega * t
        return x, r, p, v, rho_new, alpha, omega, k + 1

    zeros = jnp.zeros_like(b)
    state = (x0, r0, zeros, zeros, one, one, one, 0)
    x, *_ = lax.while_loop(cond, body, state)
    return unravel(x)


def solve_gmres(matvec: Matvec, b: PyTree, *, init: PyTree = None, ridge: float = 0.0,
                tol: float | None = None, maxiter: int | None = None,
                restart: int = 30) -> PyTree:
    """Restarted GMRES(``restart``) for a general non-singular map.

    Each cycle builds an orthonormal Krylov basis with twice-repeated classical
    Gram-Schmidt (matrix products, friendly to accelerators) and minimises the
    residual over it by a small least-squares solve. ``maxiter`` counts Krylov
    steps (matrix-vector products), not cycles.
    """
    mv, b, unravel, x0, threshold, maxiter = _setup(
        matvec, b, init, ridge, tol, maxiter, lambda n: 10 * n + 100)
    n = b.shape[0]
    m = max(1, min(restart, n, maxiter))
    dtype = b.dtype

    def cycle(x):
        r = b - mv(x)
        beta = jnp.linalg.norm(r)
        basis = jnp.zeros((m + 1, n), dtype).at[0].set(safe_div(r, beta))
        hess = jnp.zeros((m + 1, m), dtype)

        def arnoldi(j, carry):
            basis, hess = carry
            w = mv(basis[j])
            mask = (jnp.arange(m + 1) <= j).astype(dtype)
            h1 = mask * (basis @ w)
            w = w - basis.T @ h1
            h2 = mask * (basis @ w)
            w = w - basis.T @ h2
            norm = jnp.linalg.norm(w)
            column = (h1 + h2).at[j + 1].set(norm)
            return basis.at[j + 1].set(safe_div(w, norm)), hess.at[:, j].set(column)

        basis, hess = lax.fori_loop(0, m, arnoldi, (basis, hess))
        rhs = jnp.zeros((m + 1,), dtype).at[0].set(beta)
        y = jnp.linalg.lstsq(hess, rhs)[0]
        return x + basis[:m].T @ y

    def cond(state):
        x, res, k = state
        return (res > threshold) & (k < maxiter)

    def body(state):
        x, _, k = state
        x = cycle(x)
        return x, jnp.linalg.norm(b - mv(x)), k + m

    x, *_ = lax.while_loop(cond, body, (x0, jnp.linalg.norm(b - mv(x0)), 0))
    return unravel(x)


def materialize(matvec: Matvec, b: PyTree, ridge: Any = 0.0) -> jax.Array:
    """Dense matrix of ``v -> matvec(v) + ridge * v`` on the flattened space of ``b``."""
    mv, b_flat, _ = _flatten(matvec, b, ridge)
    eye = jnp.eye(b_flat.shape[0], dtype=b_flat.dtype)
    return jax.vmap(mv, in_axes=1, out_axes=1)(eye)


def solve_lu(matvec: Matvec, b: PyTree, *, init: PyTree = None, ridge: float = 0.0,
             tol: float | None = None, maxiter: int | None = None) -> PyTree:
    """Dense LU with partial pivoting (``init``, ``tol``, ``maxiter`` unused)."""
    del init, tol, maxiter
    b_flat, unravel = ravel_pytree(b)
    return unravel(lu_solve(lu_factor(materialize(matvec, b, ridge)), b_flat))


def solve_cholesky(matvec: Matvec, b: PyTree, *, init: PyTree = None, ridge: float = 0.0,
                   tol: float | None = None, maxiter: int | None = None) -> PyTree:
    """Dense Cholesky for a symmetric positive definite map (``init``, ``tol``, ``maxiter`` unused)."""
    del init, tol, maxiter
    b_flat, unravel = ravel_pytree(b)
    factor = jsl.cho_factor(materialize(matvec, b, ridge))
    return unravel(jsl.cho_solve(factor, b_flat))


def solve_qr(matvec: Matvec, b: PyTree, *, init: PyTree = None, ridge: float = 0.0,
             tol: float | None = None, maxiter: int | None = None) -> PyTree:
    """Dense QR, ``x = R^{-1} Q^T b``: backward stable for any non-singular map.

    ``init``, ``tol`` and ``maxiter`` are unused.
    """
    del init, tol, maxiter
    b_flat, unravel = ravel_pytree(b)
    q, r = jnp.linalg.qr(materialize(matvec, b, ridge))
    return unravel(jsl.solve_triangular(r, q.T @ b_flat))


def solve_inv(matvec: Matvec, b: PyTree, *, init: PyTree = None, ridge: float = 0.0,
              tol: float | None = None, maxiter: int | None = None) -> PyTree:
    """Dense explicit inverse: ``x = A^{-1} b`` (``init``, ``tol``, ``maxiter`` unused).

    Less accurate than :func:`solve_lu` for the same cost; there for JAXopt
    users and for comparisons.
    """
    del init, tol, maxiter
    b_flat, unravel = ravel_pytree(b)
    return unravel(jnp.linalg.inv(materialize(matvec, b, ridge)) @ b_flat)


def solve_iterative_refinement(matvec: Matvec, b: PyTree, *, init: PyTree = None, ridge: float = 0.0,
                               tol: float | None = None, maxiter: int = 10,
                               solve: LinearSolve | None = None) -> PyTree:
    """Iterative refinement: ``x += solve(r)`` with the residual ``r = b - (A + ridge I) x``, up to ``maxiter`` times.

    Each correction comes from the inner ``solve(matvec, r)`` (default:
    GMRES on ``A + 1e-6 I``, a regularised and therefore robust solve); the
    residual is always that of the exact map, so the iterates converge to the
    solution of ``(A + ridge I) x = b`` even when the inner solve is inaccurate.
    Stops when ``||r|| <= tol * ||b||``; ``tol`` defaults to the machine
    epsilon, since reaching working precision is the point of refining.
    """
    if solve is None:
        solve = functools.partial(solve_gmres, ridge=1e-6)
    tol = float(jnp.finfo(ravel_pytree(b)[0].dtype).eps) if tol is None else tol
    mv, b_flat, unravel, x0, threshold, _ = _setup(matvec, b, init, ridge, tol, maxiter, lambda n: n)
    inner_matvec = _flatten(matvec, b, ridge)[0]

    def cond(state):
        _, r, k = state
        return (jnp.linalg.norm(r) > threshold) & (k < maxiter)

    def body(state):
        x, r, k = state
        x = x + solve(inner_matvec, r)
        return x, b_flat - mv(x), k + 1

    x, *_ = lax.while_loop(cond, body, (x0, b_flat - mv(x0), 0))
    return unravel(x)


def solve_auto(matvec: Matvec, b: PyTree, *, init: PyTree = None, ridge: float = 0.0,
               tol: float | None = None, maxiter: int | None = None,
               symmetric: bool = False, positive_definite: bool = False) -> PyTree:
    """Pick a solver from the size and the structure the caller knows.

    Up to ``DENSE_MAX`` unknowns: dense Cholesky for a symmetric positive
    definite map, dense LU otherwise (exact to rounding, and the cost of
    ``n`` matrix-vector products is small). Larger: CG for a symmetric positive
    definite map, GMRES otherwise.
    """
    n = ravel_pytree(b)[0].shape[0]
    spd = symmetric and positive_definite
    if n <= DENSE_MAX:
        chosen = solve_cholesky if spd else solve_lu
    else:
        chosen = solve_cg if spd else solve_gmres
    return chosen(matvec, b, init=init, ridge=ridge, tol=tol, maxiter=maxiter)


#: The solvers selectable by name (e.g. ``compile(linear_solve=...)``); the others are passed as callables.
SOLVERS: dict[str, LinearSolve] = {
    "auto": solve_auto,
    "cg": solve_cg,
    "normal_cg": solve_normal_cg,
    "gmres": solve_gmres,
    "bicgstab": solve_bicgstab,
    "lu": solve_lu,
    "cholesky": solve_cholesky,
    "qr": solve_qr,
    "inv": solve_inv,
    "iterative_refinement": solve_iterative_refinement,
}


#: The solvers of :data:`SOLVERS` that need a symmetric positive definite map (on any other they can return NaN or a
#: wrong solution).
SPD_ONLY = frozenset({"cg", "cholesky"})


def get_solver(solve: str | LinearSolve, *, symmetric: bool = False,
               positive_definite: bool = False) -> Callable[[Matvec, PyTree], PyTree]:
    """Resolve ``solve`` (a name in :data:`SOLVERS` or a callable) to ``solve(matvec, b)``.

    The structure flags are forwarded to ``"auto"``; a callable is returned as is.
    """
    if callable(solve):
        return solve
    if solve not in SOLVERS:
        raise ArgumentError(f"unknown linear solver {solve!r}; choose one of {sorted(SOLVERS)} "
                         "or pass a callable solve(matvec, b)")
    if solve == "auto":
        return lambda matvec, b: solve_auto(matvec, b, symmetric=symmetric,
                                            positive_definite=positive_definite)
    return SOLVERS[solve]
