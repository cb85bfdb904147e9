"""Mirror descent with the entropy (KL) geometry -- exponentiated gradient -- and the simplex KL step."""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
from jax import lax
from jax.scipy.special import xlog1py

from optdsl.errors import ArgumentError
from optdsl.runtime.safe_math import safe_div
from optdsl.runtime.solvers.base import (SolverInfo, check_count, check_init, check_positive,
                                         check_same_shape, check_scalar_fun, iterate, make_info, resolve_tol)
from optdsl.runtime.solvers.log import SPARSE, iteration_log, reported
from optdsl.runtime.solvers.linesearch import backtrack, descent_test, initial_stepsize

#: Halvings allowed to one backtracking search.
MAXLS = 50
#: Factor the step size grows by after a step accepted at its first trial.
GROWTH = 1.5

KLStep = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]


def simplex_kl_step(x: jax.Array, g: jax.Array, eta: jax.Array,
                    shape: Sequence[int] | None = None) -> jax.Array:
    """KL step onto probability simplices: ``argmin_{y in simplex} <g, y> + KL(y, x) / eta``.

    The answer is ``y = x * exp(-eta g) / sum(x * exp(-eta g))``. ``g`` is shifted
    by its least value on the support of ``x`` (the shift cancels), so nothing
    overflows, and the derivative stays finite at entries that are exactly zero
    (the softmax of ``log x - eta g`` would give ``0 * inf = nan`` there); zeros
    in ``x`` stay zero. With ``shape=(m, k)`` the flat ``x`` of size ``m k`` holds
    ``m`` rows, each on its own simplex (normalised along the last axis); ``None``
    means one simplex over all of ``x``.

    Example:
        >>> [round(v, 4) for v in simplex_kl_step(jnp.full(4, 0.25), jnp.arange(4.0), 1.0, (2, 2)).tolist()]
        [0.7311, 0.2689, 0.7311, 0.2689]
    """
    shape = tuple(x.shape) if shape is None else tuple(shape)
    if x.shape != g.shape or len(x.shape) != 1 or math.prod(shape) != x.shape[0]:
        raise ArgumentError(f"simplex_kl_step: x {x.shape} and g {g.shape} must be flat vectors of "
                         f"the same size as shape {shape}")
    xb, gb = x.reshape(shape), g.reshape(shape)
    shift = lax.stop_gradient(jnp.min(jnp.where(xb > 0, gb, jnp.inf), axis=-1, keepdims=True))
    exponent = -eta * (gb - shift)  # <= 0 on the support; clipped off it, where x = 0 multiplies it
    weighted = xb * jnp.exp(jnp.where(xb > 0, exponent, jnp.minimum(exponent, 0)))
    return safe_div(weighted, jnp.sum(weighted, axis=-1, keepdims=True)).reshape(x.shape)  # a zero row stays zero


def _kl_divergence(y: jax.Array, x: jax.Array) -> jax.Array:
    """Generalised KL divergence ``sum_i y_i log(y_i / x_i) - y_i + x_i`` for ``y, x >= 0``.

    Written as ``x_i phi(u_i)``, ``u_i = (y_i - x_i) / x_i``, ``phi(u) = (1 + u) log1p(u) - u``,
    which keeps its accuracy when ``y`` is close to ``x`` (terms with ``x_i = 0`` count 0).
    """
    positive = x > 0
    u = jnp.where(positive, (y - x) / jnp.where(positive, x, 1), 0)
    return jnp.sum(jnp.where(positive, x * (xlog1py(1 + u, u) - u), 0))


class _State(NamedTuple):
    x: jax.Array
    f: jax.Array  # f(x)
    g: jax.Array  # grad f(x)
    eta: jax.Array  # step size: the one used last, or the next trial when backtracking
    residual: jax.Array  # ||x - kl_step(x, grad f(x), eta)|| / eta
    stalled: jax.Array  # bool: backtracking found no acceptable step


def mirror_descent(fun: Callable[[jax.Array, Any], jax.Array], kl_step: KLStep, init: jax.Array,
                   params: Any = None, *, stepsize: Any = None, tol: float | None = None,
                   maxiter: int = 5000, unroll: bool = False,
                   verbose: bool = False) -> tuple[jax.Array, SolverInfo]:
    """Minimise a smooth ``fun(x, params)`` over a set ``C`` by exponentiated gradient.

    Iterates ``x+ = kl_step(x, grad f(x), eta)`` where ``kl_step(x, g, eta)`` returns
    ``argmin_{y in C} <g, y> + KL(y, x) / eta`` (e.g. :func:`simplex_kl_step`,
    with ``functools.partial`` for row-wise simplices). ``init`` must lie in the
    relative interior of ``C`` (positive entries).

    ``stepsize=None``: ``eta`` starts at ``1 / L`` from a secant estimate of the
    Lipschitz constant, is halved until ``f(x+) <= f(x) + <grad f(x), x+ - x> +
    KL(x+, x) / eta`` (:func:`~.linesearch.descent_test`), and is tried 1.5 times
    larger after a step accepted at once. A given ``stepsize`` is used as is.

    The residual is ``||x - kl_step(x, grad f(x), eta)|| / eta`` at the returned
    ``x`` with the last step size; it vanishes exactly at minimisers over ``C``. ``verbose``:
    print the residual and step size every :data:`~.log.SPARSE` iterations and the final status.

    Example:
        >>> x, info = mirror_descent(lambda x, c: jnp.sum((x - c) ** 2), simplex_kl_step,
        ...                          jnp.full(3, 1 / 3), jnp.array([0.5, 0.2, 0.0]))
    """
    x0 = check_init(init)
    check_count("maxiter", maxiter, 0)
    check_scalar_fun(fun, x0, params)
    check_same_shape("kl_step(x, g, eta)", kl_step, x0, x0, jnp.ones((), x0.dtype))
    tol = resolve_tol(tol, x0.dtype)
    value_and_grad = jax.value_and_grad(lambda x: fun(x, params))

    def residual(x, g, eta):
        """Mirror-step residual: drives the stopping test only, so it is not differentiated."""
        return lax.stop_gradient(jnp.linalg.norm(x - kl_step(x, g, eta)) / eta)

    def kl_trial(state, eta):
        """``(accepted, (z, f(z), grad f(z)))`` for the KL step ``z`` of size ``eta`` from ``state.x``."""
        z = kl_step(state.x, state.g, eta)
        fz, gz = value_and_grad(z)
        bound = _kl_divergence(z, state.x) / eta
        return descent_test(state.f, state.g, fz, gz, z - state.x, bound), (z, fz, gz)

    def body(state: _State) -> _State:
        if stepsize is None:
            eta, (z, fz, gz), ok, first = backtrack(lambda eta: kl_trial(state, eta), state.eta,
                                                     maxls=MAXLS, unroll=unroll)
            eta_next = jnp.where(first, GROWTH * eta, eta)
        else:
            eta = eta_next = state.eta
            _, (z, fz, gz) = kl_trial(state, eta)
            ok = jnp.ones((), bool)
        moved = _State(z, fz, gz, eta_next, residual(z, gz, eta), ~ok)
        return jax.tree.map(lambda new, old: jnp.where(ok, new, old), moved, state._replace(stalled=~ok))

    f0, g0 = value_and_grad(x0)
    if stepsize is None:
        eta0 = initial_stepsize(jax.grad(lambda x: fun(x, params)), x0, g0)
    else:
        check_positive("stepsize", stepsize)
        eta0 = jnp.asarray(stepsize, x0.dtype)
    state0 = _State(x0, f0, g0, eta0, residual(x0, g0, eta0), jnp.zeros((), bool))
    log = iteration_log(verbose, "mirror_descent", lambda s: {"residual": s.residual, "step": s.eta}, SPARSE)
    state, k = iterate(lambda s: (s.residual > tol) & ~s.stalled, body, state0,
                       maxiter=maxiter, unroll=unroll, log=log)
    return state.x, reported(verbose, "mirror_descent", make_info(state.x, state.residual, k, tol))
