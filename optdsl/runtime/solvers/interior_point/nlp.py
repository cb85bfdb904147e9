"""Smooth (possibly non-convex) NLPs by a line-search primal-dual interior-point method.

Solves ``min f(x, params)  s.t.  g(x, params) <= 0 (m outputs),  h_eq(x, params) = 0 (p outputs)``
for one flat ``x`` and a params pytree, with slacks ``g + s = 0, s > 0``, multipliers
``lam > 0`` (for ``g``) and ``nu`` (for ``h_eq``). Each iteration, in the manner of
IPOPT (Wachter & Biegler 2006) without its filter and restoration phase:

- a Newton step on the barrier KKT system ``grad L = 0, h_eq = 0, g + s = 0,
  lam * s = mu`` with the exact Lagrangian Hessian (``jax.hessian``), shifted by
  ``delta I`` until the Hessian of the reduced system is positive definite on the
  null space of ``Jh`` (the inertia correction, read off an eigen-decomposition);
- fraction-to-the-boundary step limits on ``s`` and ``lam``;
- a backtracking (Armijo) line search on the l1 merit function
  ``f - mu sum(log s) + rho (|h_eq|_1 + |g + s|_1)``, ``rho`` raised as needed for descent;
- the barrier parameter drops (Fiacco-McCormick, ``mu <- min(mu / 5, mu^1.5)``)
  whenever the barrier problem is solved to ``10 mu``.

A non-convex problem gives a local solution (a KKT point) near ``init``, which is a
flat ``x`` (a cold start) or a :class:`~optdsl.runtime.solvers.interior_point.kkt.KKTPoint`
(a warm start, see :func:`nlp_interior_point`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from optdsl.errors import ArgumentError
from optdsl.runtime.implicit_diff import custom_root
from optdsl.runtime.solvers.base import check_count, check_init, check_scalar_fun, resolve_tol
from optdsl.runtime.solvers.interior_point.core import (check_start, conclude, finite, floored, result, run, select,
                                                        status)
from optdsl.runtime.solvers.interior_point.kkt import (Fun, KKTAux, KKTPoint, kkt_factored_solve, kkt_jacobian,
                                                       kkt_residual, lagrangian, or_empty)
from optdsl.runtime.solvers.interior_point.newton_step import max_step, newton_kkt_solve, regularisation
from optdsl.runtime.solvers.log import iteration_log, reported

#: Initial barrier parameter.
MU_INIT = 0.1
#: The barrier problem counts as solved when its error is below ``KAPPA_EPS * mu``.
KAPPA_EPS = 10.0
#: Barrier decrease: ``mu <- max(tol / 10, min(KAPPA_MU * mu, mu ** THETA_MU))``.
KAPPA_MU, THETA_MU = 0.2, 1.5
#: Armijo constant and the most halvings of one line search.
ARMIJO, MAXLS = 1e-4, 40
#: Multipliers are kept within ``[mu / (KAPPA_SIGMA s), KAPPA_SIGMA mu / s]`` (IPOPT's safeguard).
KAPPA_SIGMA = 1e10

class _Eval(NamedTuple):
    """Derivative information at an iterate ``x``, computed once per accepted step."""

    grad_f: jax.Array
    g: jax.Array
    h: jax.Array
    jac_g: jax.Array
    jac_h: jax.Array


class _State(NamedTuple):
    x: jax.Array
    ev: _Eval
    s: jax.Array
    nu: jax.Array
    lam: jax.Array
    mu: jax.Array
    rho: jax.Array  # l1 penalty of the merit function
    code: jax.Array
    residual: jax.Array


def _check_constraint(name: str, fun: Fun, size: int, x: jax.Array, params: Any) -> None:
    out = jax.eval_shape(fun, x, params)
    if getattr(out, "shape", None) != (size,):
        raise ArgumentError(f"{name}(x, params) must return a vector of shape ({size},) as given by its count, "
                         f"got {getattr(out, 'shape', type(out).__name__)}")


def nlp_interior_point(f: Fun, g: Fun | None, h_eq: Fun | None, init: jax.Array | KKTPoint, params: Any = None, *,
                       m: int, p: int, tol: float | None = None,
                       maxiter: int = 200, verbose: bool = False) -> tuple[KKTPoint, KKTAux]:
    """Solve ``min f(x, params) s.t. g(x, params) <= 0, h_eq(x, params) = 0`` from ``init``.

    Returns ``(KKTPoint, KKTAux)``.

    ``init``: a flat ``x`` of shape ``(n,)`` (a cold start: slacks ``max(-g, 0.01 max(1, |g|))``,
    ``mu = MU_INIT``, ``lam = mu / s``, ``nu = 0``), or a :class:`KKTPoint`, typically the
    solution at nearby ``params`` (a warm start): its ``x``, ``nu`` and ``lam`` are kept, the
    slacks ``s = -g(x)`` and ``lam`` raised to floors of the point's residual times their size,
    and the barrier parameter starts at the mean of ``s * lam``, so the iteration picks up
    where the previous solve ended; the cold start from the same ``x`` is used instead where it
    has the smaller residual. From the solution at parameters perturbed by 1e-3 small NLPs
    take about 3 iterations instead of 8-15 (about 7-9 from that ``x`` alone).

    ``f`` is scalar, ``g`` has ``m`` outputs and ``h_eq`` ``p`` (None when the count is 0),
    all smooth in the flat ``x`` of shape ``(n,)``; see the module docstring for the
    method. Stops when ``||grad L||_inf / max(1, ||grad f||_inf)``, ``||h_eq||_inf``,
    ``||g + s||_inf`` and ``||lam * s||_inf`` are all ``<= tol`` (default
    :func:`~.base.default_tol`); the reported residual is their maximum. ``status``:
    SOLVED, MAX_ITERATIONS, or NUMERICAL_ERROR (non-finite values, no step passing the
    line search, or iterates that no longer move at rounding level -- e.g. a ``tol``
    below what float32 evaluations of ``f`` and its derivatives can resolve). The aux holds the LU of the KKT Jacobian
    ``[[H, Jh', Jg'], [Jh, 0, 0], [diag(lam) Jg, 0, diag(g)]]`` at the returned point,
    ``H`` the Lagrangian Hessian, for
    :func:`~optdsl.runtime.solvers.interior_point.kkt.kkt_factored_solve`. ``verbose``: print the
    residual and barrier parameter at each iteration and the final status.

    Example:
        >>> import numpy as np
        >>> from optdsl.runtime.status import describe
        >>> f = lambda x, c: jnp.sum((x - c) ** 2)
        >>> g = lambda x, c: jnp.array([jnp.sum(x ** 2) - 1.0])  # the unit disk
        >>> solve = jax.jit(lambda c: nlp_interior_point(f, g, None, jnp.zeros(2), c, m=1, p=0))
        >>> point, aux = solve(jnp.array([2.0, 0.0]))
        >>> describe(aux.status), (np.round(point.x, 6) + 0.0).tolist(), np.round(point.lam, 6).tolist()
        ('solved', [1.0, 0.0], [1.0])
    """
    start = init if isinstance(init, KKTPoint) else None
    x0 = check_init(init if start is None else start.x)
    check_count("maxiter", maxiter, 1)
    check_count("m", m, 0)
    check_count("p", p, 0)
    check_scalar_fun(f, x0, params)
    dtype = x0.dtype
    if g is None and m or h_eq is None and p:
        raise ArgumentError(f"g is None but m = {m}, or h_eq is None but p = {p}: pass the constraint functions")
    g_fun, h_fun = or_empty(g), or_empty(h_eq)
    _check_constraint("g", g_fun, m, x0, params)
    _check_constraint("h_eq", h_fun, p, x0, params)
    tol = resolve_tol(tol, dtype)
    params = jax.tree_util.tree_map(lax.stop_gradient, params)
    n = x0.shape[0]
    if start is not None:
        start = KKTPoint(*(lax.stop_gradient(v.astype(dtype)) for v in check_start(start, n, p, m)))
    eps = jnp.finfo(dtype).eps
    reg = regularisation(dtype)

    objective = lambda x: f(x, params)
    grad_f = jax.grad(objective)
    g_of, h_of = (lambda x: g_fun(x, params)), (lambda x: h_fun(x, params))
    jac_g, jac_h = jax.jacfwd(g_of), jax.jacfwd(h_of)

    L = lagrangian(f, g, h_eq)

    def lagrangian_hessian(x, nu, lam):
        return jax.hessian(lambda z: L(KKTPoint(z, nu, lam), params))(x)

    def evaluate(x):
        return _Eval(grad_f(x), g_of(x), h_of(x), jac_g(x), jac_h(x))

    def errors(ev, s, nu, lam, mu):
        """Barrier error ``E_mu`` (``mu = 0``: the optimality residual)."""
        inf = lambda v: jnp.max(jnp.abs(v), initial=0)
        dual = inf(ev.grad_f + ev.jac_g.T @ lam + ev.jac_h.T @ nu) / jnp.maximum(1, inf(ev.grad_f))
        primal = jnp.maximum(inf(ev.h), inf(ev.g + s))
        return jnp.maximum(jnp.maximum(dual, primal), inf(lam * s - mu))

    def merit(x, s, mu, rho):
        return (objective(x) - mu * jnp.sum(jnp.log(s))
                + rho * (jnp.sum(jnp.abs(h_of(x))) + jnp.sum(jnp.abs(g_of(x) + s))))

    def inertia_shift(W, B, Jh):
        """Smallest ``delta >= 0`` (plus a margin) making ``B + delta I`` positive definite on null(Jh).

        The margin is ``sqrt(eps)`` times the scale of the Lagrangian Hessian ``W``, not of ``B``: the
        barrier part of ``B`` grows without bound near a solution and would damp every step.
        """
        if p == 0:
            reduced = B
        elif p < n:
            Z = jnp.linalg.svd(Jh, full_matrices=True)[2][p:].T
            reduced = Z.T @ B @ Z
        else:
            return jnp.zeros((), dtype)
        floor = jnp.sqrt(eps) * jnp.maximum(1, jnp.max(jnp.abs(jnp.diagonal(W))))
        low = jnp.linalg.eigvalsh(reduced)[0]
        return jnp.where(low >= floor, 0, floor - low)

    def body(st: _State) -> _State:
        x, ev, s, nu, lam, rho = st.x, st.ev, st.s, st.nu, st.lam, st.rho
        gf, gx, hx, Jg, Jh = ev
        # Fiacco-McCormick: lower mu once the current barrier problem is solved well enough.
        mu = jnp.where(errors(ev, s, nu, lam, st.mu) <= KAPPA_EPS * st.mu,
                       jnp.maximum(tol / 10, jnp.minimum(KAPPA_MU * st.mu, st.mu ** THETA_MU)), st.mu)
        W = lagrangian_hessian(x, nu, lam)
        w = lam / s
        delta = inertia_shift(W, W + (Jg.T * w) @ Jg, Jh)
        H = W + delta * jnp.eye(n, dtype=dtype)
        solve = newton_kkt_solve(H, Jh, Jg, w, reg)
        r_d = gf + Jg.T @ lam + Jh.T @ nu
        dx, dnu, dlam = solve(-r_d, -hx, -gx - mu / lam)
        ds = (mu - lam * s - s * dlam) / lam

        fraction = jnp.maximum(0.99, 1 - mu)
        alpha_p = fraction * max_step(s, ds)
        alpha_d = fraction * max_step(lam, dlam)
        # l1 merit: raise rho so the step is a descent direction (Nocedal & Wright, 19.3).
        violation = jnp.sum(jnp.abs(hx)) + jnp.sum(jnp.abs(gx + s))
        barrier_slope = gf @ dx - mu * jnp.sum(ds / s)
        curvature = jnp.maximum(dx @ H @ dx + ds @ (w * ds), 0)
        needed = (barrier_slope + 0.5 * curvature) / (0.9 * jnp.maximum(violation, jnp.finfo(dtype).tiny))
        rho = jnp.where(violation > 0, jnp.maximum(rho, needed), rho)
        slope = barrier_slope - rho * violation
        phi0 = merit(x, s, mu, rho)

        def ls_cond(state):
            alpha, accepted, k = state
            return ~accepted & (k < MAXLS)

        def ls_body(state):
            alpha, _, k = state
            trial = merit(x + alpha * dx, s + alpha * ds, mu, rho)
            ok = jnp.isfinite(trial) & (trial <= phi0 + ARMIJO * alpha * slope)
            return jnp.where(ok, alpha, alpha / 2), ok, k + 1

        alpha, accepted, _ = lax.while_loop(ls_cond, ls_body, (alpha_p, jnp.zeros((), bool), 0))
        x_new, s_new = x + alpha * dx, s + alpha * ds
        lam_new = lam + alpha_d * dlam
        lam_new = jnp.clip(lam_new, mu / (KAPPA_SIGMA * s_new), KAPPA_SIGMA * mu / s_new)
        nu_new = nu + alpha * dnu

        ev_new = evaluate(x_new)
        residual = errors(ev_new, s_new, nu_new, lam_new, 0)
        old, now = jnp.concatenate([x, s, nu, lam]), jnp.concatenate([x_new, s_new, nu_new, lam_new])
        # Below rounding level nothing moves any more: stop rather than spin until maxiter.
        stuck = jnp.all(jnp.abs(now - old) <= 4 * eps * jnp.maximum(1, jnp.abs(old)))
        code = status(residual, tol, finite(now, residual) & accepted)
        return conclude(_State(x_new, ev_new, s_new, nu_new, lam_new, mu, rho, code, residual), st, ~stuck)

    one = jnp.ones((), dtype)

    def assessed(x, s, nu, lam, mu):
        ev = evaluate(x)
        residual = errors(ev, s, nu, lam, 0)
        return _State(x, ev, s, nu, lam, mu, one, status(residual, tol, finite(s, nu, lam, residual)), residual)

    def cold_start(x):
        """Slacks ``max(-g, 0.01 max(1, |g|))``, ``mu = MU_INIT``, ``lam = mu / s``, ``nu = 0``."""
        g0 = g_of(x)
        s = jnp.maximum(-g0, 1e-2 * jnp.maximum(1, jnp.abs(g0)))
        mu = jnp.asarray(MU_INIT, dtype)
        return assessed(x, s, jnp.zeros(p, dtype), mu / s, mu)

    def warm_start(point):
        """``point`` with slacks ``-g`` and ``lam`` :func:`~.core.floored`, ``mu`` their mean product."""
        x, nu, lam = point
        s = -g_of(x)
        residual = errors(evaluate(x), jnp.maximum(s, 0), nu, jnp.maximum(lam, 0), 0)
        s, lam = floored(s, residual), floored(lam, residual)
        return assessed(x, s, nu, lam, jnp.maximum(s @ lam / jnp.maximum(m, 1), tol / 10))

    first = cold_start(x0)
    if start is not None:
        warm = warm_start(start)
        first = select(warm.residual < first.residual, warm, first)
    st, k, code = run(body, first, maxiter,
                      iteration_log(verbose, "nlp_interior_point", lambda st: {"residual": st.residual, "mu": st.mu}))
    point = KKTPoint(st.x, st.nu, st.lam)
    point, aux = result(point, kkt_jacobian(f, g, h_eq)(point, params), k, st.residual, code, exact=True, tol=tol)
    return point, reported(verbose, "nlp_interior_point", aux)


def solve_nlp(f: Fun, g: Fun | None, h_eq: Fun | None, init: jax.Array | KKTPoint, params: Any = None, *,
              m: int, p: int, **opts: Any) -> tuple[KKTPoint, KKTAux]:
    """:func:`nlp_interior_point` with implicit derivatives w.r.t. ``params`` (forward and reverse).

    Wrapped by ``custom_root(kkt_residual(f, g, h_eq), has_aux=True,
    factored_solve=kkt_factored_solve)``, so a derivative costs back-substitutions
    with the KKT factorisation kept in the aux; ``init`` gets a zero derivative.
    ``params`` must carry everything being differentiated (no closures over traced values).

    Example:
        >>> import numpy as np
        >>> f = lambda x, c: jnp.sum((x - c) ** 2)
        >>> g = lambda x, c: jnp.array([jnp.sum(x ** 2) - 1.0])
        >>> x_of = lambda c: solve_nlp(f, g, None, jnp.zeros(2), c, m=1, p=0)[0].x
        >>> jac = jax.jit(jax.jacfwd(x_of))(jnp.array([2.0, 0.0]))
        >>> (np.round(jac, 6) + 0.0).tolist()  # x = c / |c|: (I - x x') / |c|
        [[0.0, 0.0], [0.0, 0.5]]
    """
    @custom_root(kkt_residual(f, g, h_eq), has_aux=True, factored_solve=kkt_factored_solve)
    def solver(init, params):
        return nlp_interior_point(f, g, h_eq, init, params, m=m, p=p, **opts)

    return solver(init, params)
