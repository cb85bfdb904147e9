"""Damped Newton methods for a smooth ``fun(x, params)``: dense (:func:`newton`) and matrix-free (:func:`newton_cg`).

Both share one outer loop -- direction, weak Wolfe line search started at the
full step ``t = 1`` (so it backtracks first, and keeps the Armijo decrease), stop
on the gradient norm -- and differ only in how the Newton system
``H d = -g`` is solved.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from optdsl.runtime.safe_math import safe_div
from optdsl.runtime.solvers.base import (SolverInfo, check_count, check_init, check_scalar_fun,
                                         iterate, make_info, resolve_tol)
from optdsl.runtime.solvers.log import iteration_log, reported
from optdsl.runtime.solvers.linesearch import wolfe_search

#: Trial steps allowed to one line search.
MAXLS = 30
#: ``direction(x, g) -> d``, an (approximate) Newton step at ``x`` with gradient ``g``.
Direction = Callable[[jax.Array, jax.Array], jax.Array]


def _spectral_direction(hessian: jax.Array, g: jax.Array) -> jax.Array:
    """``d = -V |W|^+ V' g`` from ``H = V W V'``: Newton's step on the curvature the Hessian resolves.

    Eigenvalues at rounding level (``|w| <= n eps max|w|``) are dropped (the pseudo-inverse:
    a singular convex Hessian, as in a wide least squares, gives the least-norm step), and
    negative ones count by their size, so ``d`` is a descent direction for a non-convex
    ``fun`` too. Ill-conditioned but non-singular Hessians keep every direction, which a
    diagonal shift would damp.
    """
    w, V = jnp.linalg.eigh(0.5 * (hessian + hessian.T))
    size = jnp.abs(w)
    keep = size > g.shape[0] * jnp.finfo(g.dtype).eps * jnp.max(size, initial=0)
    return -V @ (safe_div(V.T @ g, size, keep))


def _cg_direction(hvp: Callable[[jax.Array], jax.Array], g: jax.Array, maxcg: int,
                  unroll: bool) -> jax.Array:
    """Truncated conjugate gradient on ``H d = -g`` (Nocedal & Wright, Alg. 7.1).

    Stops when ``||H d + g|| <= min(0.5, sqrt(||g||)) ||g||`` or on negative curvature
    (``p^T H p <= 0``); returns ``-g`` if that happens before the first step.
    """
    gnorm = jnp.linalg.norm(g)
    forcing = jnp.minimum(0.5, jnp.sqrt(gnorm)) * gnorm

    def body(state):
        z, r, p, rr, _, moved = state
        hp = hvp(p)
        curv = jnp.vdot(p, hp)
        positive = curv > 0
        alpha = safe_div(rr, curv, positive)
        z_new = z + alpha * p
        r_new = r + alpha * hp
        rr_new = jnp.vdot(r_new, r_new)
        p_new = -r_new + safe_div(rr_new, rr, rr > 0) * p
        done = ~positive | (jnp.sqrt(rr_new) <= forcing)
        keep = lambda new, old: jnp.where(positive, new, old)
        return (keep(z_new, z), keep(r_new, r), keep(p_new, p), keep(rr_new, rr), done, moved | positive)

    rr0 = jnp.vdot(g, g)
    state0 = (jnp.zeros_like(g), g, -g, rr0, gnorm <= forcing, jnp.zeros((), bool))
    (z, _, _, _, _, moved), _ = iterate(lambda s: ~s[4], body, state0, maxiter=maxcg, unroll=unroll)
    return jnp.where(moved, z, -g)


class _State(NamedTuple):
    x: jax.Array
    f: jax.Array
    g: jax.Array
    stalled: jax.Array  # bool: the last line search found no acceptable step


def _newton_loop(fun: Callable, direction: Direction, x0: jax.Array, params: Any, tol: Any, maxiter: int,
                 unroll: bool, verbose: bool, name: str):
    """Damped Newton iterations with ``direction(x, g)``; stop on ``||g|| <= tol (1 + ||g0||)`` or a failed search.

    The gradient is judged relative to the starting one: with rows scaled by 1e3 the
    gradients are a million times larger, and rounding alone keeps them above an
    absolute tolerance at the optimum.
    """
    value_and_grad = jax.value_and_grad(lambda x: fun(x, params))

    def body(state: _State) -> _State:
        d = direction(state.x, state.g)
        d = jnp.where(jnp.vdot(d, state.g) < 0, d, -state.g)
        t, f, g, ok = wolfe_search(value_and_grad, state.x, state.f, state.g, d, 1,
                                   maxls=MAXLS, unroll=unroll)
        return _State(jnp.where(ok, state.x + t * d, state.x), f, g, ~ok)

    f0, g0 = value_and_grad(x0)
    tol = tol * (1 + jax.lax.stop_gradient(jnp.linalg.norm(g0)))
    log = iteration_log(verbose, name, lambda s: {"objective": s.f, "gradient": jnp.linalg.norm(s.g)})
    state, k = iterate(lambda s: (jnp.linalg.norm(s.g) > tol) & ~s.stalled, body,
                       _State(x0, f0, g0, jnp.zeros((), bool)), maxiter=maxiter, unroll=unroll, log=log)
    return state.x, reported(verbose, name, make_info(state.x, jnp.linalg.norm(state.g), k, tol))


def newton(fun: Callable[[jax.Array, Any], jax.Array], init: jax.Array, params: Any = None, *,
           tol: float | None = None, maxiter: int = 100,
           unroll: bool = False, verbose: bool = False) -> tuple[jax.Array, SolverInfo]:
    """Minimise a smooth ``fun(x, params)`` by damped Newton with the dense Hessian (small ``n``).

    Each step is ``d = -|H|^+ g`` with ``H = jax.hessian(fun)`` (its eigendecomposition:
    rounding-level eigenvalues dropped, negative ones by their size, see
    :func:`_spectral_direction`), then a line search from ``t = 1``. Costs ``O(n^2)``
    memory and ``O(n^3)`` time per step.

    The residual is the gradient norm ``||grad fun(x, params)||_2``; SOLVED when it is at most
    ``tol (1 + ||g0||)``, ``g0`` the gradient at ``init``. ``verbose``: print the objective and
    gradient norm at each iteration and the final status.

    Example:
        >>> x, info = newton(lambda x, c: jnp.sum((x - c) ** 4 + x ** 2), jnp.zeros(3), jnp.ones(3))
    """
    x0 = check_init(init)
    check_count("maxiter", maxiter, 0)
    check_scalar_fun(fun, x0, params)
    hessian = jax.hessian(fun)

    def direction(x, g):
        return _spectral_direction(hessian(x, params), g)

    return _newton_loop(fun, direction, x0, params, resolve_tol(tol, x0.dtype), maxiter, unroll, verbose, "newton")


def newton_cg(fun: Callable[[jax.Array, Any], jax.Array], init: jax.Array, params: Any = None, *,
              tol: float | None = None, maxiter: int = 100, maxcg: int | None = None,
              unroll: bool = False, verbose: bool = False) -> tuple[jax.Array, SolverInfo]:
    """Minimise a smooth ``fun(x, params)`` by line-search Newton--CG (matrix-free).

    The Newton system is solved inexactly by at most ``maxcg`` (default ``n``)
    conjugate-gradient steps on Hessian-vector products (forward-over-reverse
    autodiff), stopped at relative accuracy ``min(0.5, sqrt(||g||))`` or at
    negative curvature. The residual is ``||grad fun(x, params)||_2``. ``verbose``: as for :func:`newton`.

    Example:
        >>> x, info = newton_cg(lambda x, c: jnp.sum((x - c) ** 4 + x ** 2), jnp.zeros(3), jnp.ones(3))
    """
    x0 = check_init(init)
    check_count("maxiter", maxiter, 0)
    maxcg = x0.shape[0] if maxcg is None else maxcg
    check_count("maxcg", maxcg, 1)
    check_scalar_fun(fun, x0, params)
    grad = jax.grad(fun)

    def direction(x, g):
        hvp = lambda v: jax.jvp(lambda z: grad(z, params), (x,), (v,))[1]
        return _cg_direction(hvp, g, maxcg, unroll)

    return _newton_loop(fun, direction, x0, params, resolve_tol(tol, x0.dtype), maxiter, unroll, verbose,
                        "newton_cg")
