"""Step-length rules shared by the solvers.

* :func:`wolfe_search` -- weak Wolfe step along a descent direction (L-BFGS, Newton).
* :func:`backtrack` + :func:`descent_test` -- step size of a proximal / mirror step by
  halving until a sufficient-decrease test holds (proximal gradient, mirror descent).
* :func:`initial_stepsize` -- a first step size ``1 / L`` from a secant estimate of the
  local Lipschitz constant of the gradient.

Near a solution, differences of objective values fall below rounding error long
before the gradient is at 1e-10; the tests then fall back on gradient
information (the approximate Wolfe condition of Hager & Zhang; a trapezoid
estimate of the curvature), so the searches keep working down to tight tolerances.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax import lax

from optdsl.runtime.solvers.base import iterate

ValueAndGrad = Callable[[jax.Array], tuple[jax.Array, jax.Array]]

#: Sufficient-decrease (Armijo) constant.
ARMIJO = 1e-4
#: Curvature constant of the weak Wolfe condition.
CURVATURE = 0.9


def rounding_level(f0: jax.Array, f1: jax.Array) -> jax.Array:
    """Size below which ``f1 - f0`` is rounding noise: ``100 * eps * (|f0| + |f1|)``."""
    eps = jnp.finfo(jnp.result_type(f0)).eps
    return 100 * eps * (jnp.abs(f0) + jnp.abs(f1))


def wolfe_search(value_and_grad: ValueAndGrad, x: jax.Array, f0: jax.Array, g0: jax.Array,
                 d: jax.Array, t0: jax.Array, *, maxls: int, unroll: bool):
    """Step ``t`` along descent direction ``d`` satisfying the weak Wolfe conditions.

    Accepts ``t`` when ``phi(t) = f(x + t d)`` has sufficient decrease
    ``phi(t) <= phi(0) + c1 t phi'(0)`` -- or, when the decrease is below rounding
    level, the approximate form ``phi'(t) <= (2 c1 - 1) phi'(0)`` -- together with
    the curvature condition ``phi'(t) >= c2 phi'(0)``. Starting at ``t0`` it halves
    the bracket ``[lo, hi]`` (backtracking on failed decrease) or doubles ``t``
    (failed curvature, no upper end yet), at most ``maxls`` trials.

    Returns ``(t, f(x + t d), grad f(x + t d), ok)``; when ``ok`` is False nothing
    was accepted and the returned values are those at ``x``.
    """
    dtype = x.dtype
    slope0 = jnp.vdot(g0, d)
    t0 = lax.stop_gradient(jnp.asarray(t0, dtype))
    zero = jnp.zeros((), dtype)
    inf = jnp.asarray(jnp.inf, dtype)

    def body(state):
        t, lo, hi, f, g, _ = state
        ft, gt = value_and_grad(x + t * d)
        slope = jnp.vdot(gt, d)
        armijo = ft <= f0 + ARMIJO * t * slope0
        approx = (ft <= f0 + rounding_level(f0, ft)) & (slope <= (2 * ARMIJO - 1) * slope0)
        decrease = armijo | approx
        accept = decrease & (slope >= CURVATURE * slope0)
        lo = jnp.where(decrease, t, lo)
        hi = jnp.where(decrease, hi, t)
        t_next = jnp.where(jnp.isfinite(hi), 0.5 * (lo + hi), 2 * t)
        return (jnp.where(accept, t, t_next), lo, hi,
                jnp.where(accept, ft, f), jnp.where(accept, gt, g), accept)

    state = (t0, zero, inf, f0, g0, jnp.zeros((), bool))
    (t, _, _, f, g, ok), _ = iterate(lambda s: ~s[5], body, state, maxiter=maxls, unroll=unroll)
    return lax.stop_gradient(t), f, g, ok


def descent_test(f0: jax.Array, g0: jax.Array, f1: jax.Array, g1: jax.Array, d: jax.Array,
                 bound: jax.Array) -> jax.Array:
    """Sufficient decrease of a step ``d`` from ``x0`` to ``x1 = x0 + d`` with model term ``bound``.

    True when ``f1 - f0 - <g0, d> <= bound`` (up to rounding level of the ``f``
    values) and the trapezoid estimate of the same gap, ``<g1 - g0, d> / 2``,
    is ``<= bound`` too. ``bound`` is ``||d||^2 / (2 eta)`` for a proximal step and
    ``KL(x1, x0) / eta`` for a mirror step. The second test decides when the
    first is lost in rounding, so step sizes do not collapse near the solution.
    """
    gap = f1 - f0 - jnp.vdot(g0, d)
    trapezoid = 0.5 * jnp.vdot(g1 - g0, d)
    return (gap <= bound + rounding_level(f0, f1)) & (trapezoid <= bound)


def backtrack(trial: Callable[[jax.Array], tuple[jax.Array, Any]], eta0: jax.Array,
              *, maxls: int, unroll: bool):
    """Largest ``eta = eta0 / 2**j`` (``j < maxls``) that ``trial`` accepts.

    ``trial(eta)`` returns ``(accepted, payload)``. Returns
    ``(eta, payload, ok, first)``: ``ok`` says some trial was accepted, ``first``
    that ``eta0`` itself was (callers then try a larger step next time).
    The step size is not differentiated. With ``unroll`` the search runs without
    derivatives and the accepted trial is taken once more, differentiably: reverse
    mode then goes through one trial per search, not through ``maxls`` of them.
    """
    eta0 = lax.stop_gradient(eta0)
    if unroll:
        eta, _, ok, first = _halving(lambda eta: lax.stop_gradient(trial(eta)), eta0, maxls)
        return eta, trial(eta)[1], ok, first
    return _halving(trial, eta0, maxls)


def _halving(trial: Callable[[jax.Array], tuple[jax.Array, Any]], eta0: jax.Array, maxls: int):
    """:func:`backtrack`'s search as a ``while_loop``, the first trial outside it."""
    first, payload = trial(eta0)

    def body(state):
        eta, _, _ = state
        eta = 0.5 * eta
        ok, payload = trial(eta)
        return eta, ok, payload

    (eta, ok, payload), _ = iterate(lambda s: ~s[1], body, (eta0, first, payload), maxiter=maxls - 1, unroll=False)
    return lax.stop_gradient(eta), payload, ok, first


def initial_stepsize(grad: Callable[[jax.Array], jax.Array], x: jax.Array, g: jax.Array) -> jax.Array:
    """``1 / L`` with ``L = ||grad(x + h u) - g|| / h``, ``u = -g / ||g||``, ``h = sqrt(eps) (1 + ||x||)``.

    A secant estimate of the gradient's local Lipschitz constant; 1 when it is
    zero or not finite (a linear objective, a point outside the domain).
    Not differentiated.
    """
    x, g = lax.stop_gradient(x), lax.stop_gradient(g)
    eps = jnp.finfo(x.dtype).eps
    gnorm = jnp.linalg.norm(g)
    moving = gnorm > 0
    u = jnp.where(moving, -g / jnp.where(moving, gnorm, 1), jnp.ones_like(x) / jnp.sqrt(x.size))
    h = jnp.sqrt(eps) * (1 + jnp.linalg.norm(x))
    lipschitz = jnp.linalg.norm(grad(x + h * u) - g) / h
    usable = jnp.isfinite(lipschitz) & (lipschitz > 0)
    return jnp.where(usable, 1 / jnp.where(usable, lipschitz, 1), jnp.ones_like(lipschitz))
