"""Accelerated proximal gradient (FISTA) for ``min_x f(x, params) + g(x, params)``, ``f`` smooth.

Projected gradient is the special case where ``g`` is the indicator of a set
``C``: pass the projection onto ``C`` as ``prox`` (ignoring ``step``), e.g.
``lambda v, params, step: jnp.clip(v, lo, hi)`` for a box.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from optdsl.runtime.solvers.base import (SolverInfo, check_count, check_init, check_positive,
                                         check_same_shape, check_scalar_fun, iterate, make_info,
                                         resolve_tol)
from optdsl.runtime.solvers.log import SPARSE, iteration_log, reported
from optdsl.runtime.solvers.linesearch import backtrack, descent_test, initial_stepsize

#: Halvings allowed to one backtracking search.
MAXLS = 50
#: Factor the step size grows by after a step accepted at its first trial.
GROWTH = 1.5

Prox = Callable[[jax.Array, Any, jax.Array], jax.Array]


class _State(NamedTuple):
    x: jax.Array
    x_prev: jax.Array
    f: jax.Array  # f(x)
    g: jax.Array  # grad f(x)
    t: jax.Array  # FISTA momentum sequence, 1 right after a (re)start
    eta: jax.Array  # step size: the one used last, or the next trial when backtracking
    residual: jax.Array  # gradient mapping norm at x
    stalled: jax.Array  # bool: backtracking found no acceptable step
    g_prev: jax.Array | None  # grad f(x_prev), kept for a quadratic f only


def _extrapolated(state: _State, beta: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``f(y)`` and ``grad f(y)`` at ``y = x + beta (x - x_prev)`` for a quadratic ``f``, from those at ``x`` and
    ``x_prev``: the gradient is affine, ``H (x - x_prev) = g - g_prev``, so
    ``f(y) = f + beta <g, dx> + beta^2 / 2 <g - g_prev, dx>`` and ``grad f(y) = g + beta (g - g_prev)``."""
    dx, dg = state.x - state.x_prev, state.g - state.g_prev
    return state.f + beta * jnp.vdot(state.g, dx) + 0.5 * beta ** 2 * jnp.vdot(dg, dx), state.g + beta * dg


def proximal_gradient(fun: Callable[[jax.Array, Any], jax.Array], prox: Prox, init: jax.Array,
                      params: Any = None, *, stepsize: Any = None, tol: float | None = None,
                      maxiter: int = 5000, acceleration: bool = True, restart: bool = True,
                      quadratic: bool = False, unroll: bool = False,
                      verbose: bool = False) -> tuple[jax.Array, SolverInfo]:
    """Minimise ``fun(x, params) + g(x, params)`` where ``prox(v, params, step) = prox_{step g}(v)``.

    Iterates ``x+ = prox(y - eta grad f(y), eta)`` from the extrapolated point
    ``y = x + (t_k - 1) / t_{k+1} (x - x_prev)`` (FISTA; ``y = x`` when
    ``acceleration=False``). With ``restart`` the momentum is reset whenever
    ``<y - x+, x+ - x> > 0`` (adaptive gradient restart, O'Donoghue & Candes).
    For projected gradient pass a projection as ``prox`` (see the module docstring).

    ``stepsize=None``: ``eta`` starts at ``1 / L`` from a secant estimate of the
    Lipschitz constant, is halved until the step passes the sufficient-decrease
    test ``f(x+) <= f(y) + <grad f(y), x+ - y> + ||x+ - y||^2 / (2 eta)``
    (:func:`~.linesearch.descent_test`), and is tried 1.5 times larger after a
    step accepted at once. A given ``stepsize`` is used as is (``<= 1/L`` converges).
    ``quadratic=True`` declares ``f`` quadratic in ``x`` (its gradient affine): the value
    and gradient at ``y`` are then combined from those at ``x`` and ``x_prev`` rather
    than evaluated, so a step costs one evaluation of ``f`` and its gradient when its
    first trial is accepted (the same iterates, up to rounding).

    The residual is the gradient mapping norm at the returned ``x``,
    ``||x - prox(x - eta grad f(x), eta)|| / eta``, with ``eta`` the last step size;
    it vanishes exactly at minimisers. ``verbose``: print the residual and step size every
    :data:`~.log.SPARSE` iterations and the final status (:mod:`~optdsl.runtime.solvers.log`).

    Example:
        >>> soft = lambda v, lam, step: jnp.sign(v) * jnp.maximum(jnp.abs(v) - step * lam, 0)
        >>> x, info = proximal_gradient(lambda x, lam: 0.5 * jnp.sum((x - 1) ** 2), soft, jnp.zeros(3), 0.5)
    """
    x0 = check_init(init)
    check_count("maxiter", maxiter, 0)
    check_scalar_fun(fun, x0, params)
    check_same_shape("prox(v, params, step)", prox, x0, params, jnp.ones((), x0.dtype))
    tol = resolve_tol(tol, x0.dtype)
    value_and_grad = jax.value_and_grad(lambda x: fun(x, params))
    keep_prev = quadratic and acceleration

    def residual(x, g, eta):
        """Gradient mapping norm: drives the stopping test only, so it is not differentiated."""
        return lax.stop_gradient(jnp.linalg.norm(x - prox(x - eta * g, params, eta)) / eta)

    def prox_step(y, fy, gy, eta):
        """``(accepted, (z, f(z), grad f(z)))`` for the prox step ``z`` of size ``eta`` from ``y``."""
        z = prox(y - eta * gy, params, eta)
        fz, gz = value_and_grad(z)
        d = z - y
        return descent_test(fy, gy, fz, gz, d, jnp.vdot(d, d) / (2 * eta)), (z, fz, gz)

    def body(state: _State) -> _State:
        if acceleration:
            t_next = 0.5 * (1 + jnp.sqrt(1 + 4 * state.t ** 2))
            beta = (state.t - 1) / t_next
            y = state.x + beta * (state.x - state.x_prev)
            fy, gy = _extrapolated(state, beta) if quadratic else value_and_grad(y)
        else:
            t_next, y, fy, gy = state.t, state.x, state.f, state.g
        if stepsize is None:
            eta, (z, fz, gz), ok, first = backtrack(lambda eta: prox_step(y, fy, gy, eta), state.eta,
                                                     maxls=MAXLS, unroll=unroll)
            eta_next = jnp.where(first, GROWTH * eta, eta)
        else:
            eta = eta_next = state.eta
            _, (z, fz, gz) = prox_step(y, fy, gy, eta)
            ok = jnp.ones((), bool)
        restarting = restart & (jnp.vdot(y - z, z - state.x) > 0)
        # A failed search ends the loop, and only ``x`` and ``residual`` of the last state are read: those two keep
        # their values then, the rest need not.
        return _State(jnp.where(ok, z, state.x), state.x, fz, gz, jnp.where(restarting, jnp.ones_like(t_next), t_next),
                      eta_next, jnp.where(ok, residual(z, gz, eta), state.residual), ~ok,
                      state.g if keep_prev else None)

    f0, g0 = value_and_grad(x0)
    if stepsize is None:
        eta0 = initial_stepsize(jax.grad(lambda x: fun(x, params)), x0, g0)
    else:
        check_positive("stepsize", stepsize)
        eta0 = jnp.asarray(stepsize, x0.dtype)
    state0 = _State(x0, x0, f0, g0, jnp.ones((), x0.dtype), eta0, residual(x0, g0, eta0),
                    jnp.zeros((), bool), g0 if keep_prev else None)
    log = iteration_log(verbose, "proximal_gradient", lambda s: {"residual": s.residual, "step": s.eta}, SPARSE)
    state, k = iterate(lambda s: (s.residual > tol) & ~s.stalled, body, state0,
                       maxiter=maxiter, unroll=unroll, log=log)
    return state.x, reported(verbose, "proximal_gradient", make_info(state.x, state.residual, k, tol))
