"""L-BFGS: limited-memory quasi-Newton minimisation of a smooth ``fun(x, params)``."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from optdsl.runtime.safe_math import safe_div
from optdsl.runtime.solvers.base import (SolverInfo, check_count, check_init, check_scalar_fun,
                                         iterate, make_info, resolve_tol)
from optdsl.runtime.solvers.log import iteration_log, reported
from optdsl.runtime.solvers.linesearch import wolfe_search

#: Trial steps allowed to one line search.
MAXLS = 30


class _Memory(NamedTuple):
    """Ring buffer of the last ``m`` curvature pairs; unused rows are zero (``rho = 0``)."""

    s: jax.Array  # (m, n) steps x_{k+1} - x_k
    y: jax.Array  # (m, n) gradient changes g_{k+1} - g_k
    rho: jax.Array  # (m,) 1 / <s, y>
    head: jax.Array  # int32, slot the next pair goes into
    count: jax.Array  # int32, pairs stored (<= m)


def _empty_memory(m: int, x: jax.Array) -> _Memory:
    zeros = jnp.zeros((m,) + x.shape, x.dtype)
    return _Memory(zeros, zeros, jnp.zeros((m,), x.dtype), jnp.zeros((), jnp.int32),
                   jnp.zeros((), jnp.int32))


def _direction(mem: _Memory, g: jax.Array) -> jax.Array:
    """``-H g`` by the two-loop recursion, ``H`` the L-BFGS inverse-Hessian estimate.

    ``H_0 = gamma I`` with ``gamma = <s, y> / <y, y>`` of the newest pair (1 with an
    empty memory). Zero rows contribute nothing, so the loops run over all ``m`` slots.
    """
    m = mem.rho.shape[0]
    newest = (mem.head - 1) % m

    def newest_first(i, carry):
        q, alpha = carry
        j = (mem.head - 1 - i) % m
        a = mem.rho[j] * jnp.vdot(mem.s[j], q)
        return q - a * mem.y[j], alpha.at[j].set(a)

    q, alpha = lax.fori_loop(0, m, newest_first, (g, jnp.zeros_like(mem.rho)))
    yy = jnp.vdot(mem.y[newest], mem.y[newest])
    gamma = jnp.where(mem.count > 0, safe_div(jnp.ones_like(yy), mem.rho[newest] * yy, mem.count > 0), 1)

    def oldest_first(i, r):
        j = (mem.head + i) % m
        b = mem.rho[j] * jnp.vdot(mem.y[j], r)
        return r + (alpha[j] - b) * mem.s[j]

    return -lax.fori_loop(0, m, oldest_first, gamma * q)


def _remember(mem: _Memory, s: jax.Array, y: jax.Array) -> _Memory:
    """Store the pair ``(s, y)`` unless ``<s, y> <= eps ||s|| ||y||`` (curvature safeguard)."""
    m = mem.rho.shape[0]
    sy = jnp.vdot(s, y)
    eps = jnp.finfo(s.dtype).eps
    ok = sy > eps * jnp.sqrt(jnp.vdot(s, s) * jnp.vdot(y, y))
    slot = mem.head
    return _Memory(
        s=mem.s.at[slot].set(jnp.where(ok, s, mem.s[slot])),
        y=mem.y.at[slot].set(jnp.where(ok, y, mem.y[slot])),
        rho=mem.rho.at[slot].set(jnp.where(ok, safe_div(jnp.ones_like(sy), sy, ok), mem.rho[slot])),
        head=jnp.where(ok, (slot + 1) % m, slot).astype(jnp.int32),
        count=jnp.where(ok, jnp.minimum(mem.count + 1, m), mem.count).astype(jnp.int32))


class _State(NamedTuple):
    x: jax.Array
    f: jax.Array
    g: jax.Array
    mem: _Memory
    stalled: jax.Array  # bool: a line search failed along steepest descent


def lbfgs(fun: Callable[[jax.Array, Any], jax.Array], init: jax.Array, params: Any = None, *,
          tol: float | None = None, maxiter: int = 500, history: int = 10,
          unroll: bool = False, verbose: bool = False) -> tuple[jax.Array, SolverInfo]:
    """Minimise a smooth ``fun(x, params)`` over ``x`` of shape ``(n,)`` by L-BFGS.

    Directions come from the two-loop recursion over the last ``history`` pairs;
    steps from a weak Wolfe line search (:func:`~.linesearch.wolfe_search`); a pair
    with ``<s, y> <= eps ||s|| ||y||`` is not stored. If a line search fails the
    memory is cleared and the next step is steepest descent; if that fails too the
    solver stops (its residual then shows it did not converge).

    The residual is the absolute gradient norm ``||grad fun(x, params)||_2``;
    SOLVED means it is ``<= tol`` (default :func:`~.base.default_tol`). ``verbose``: print the
    objective and gradient norm at each iteration and the final status.

    Example:
        >>> x, info = lbfgs(lambda x, c: jnp.sum((x - c) ** 2), jnp.zeros(3), jnp.arange(3.0))
    """
    x0 = check_init(init)
    check_count("maxiter", maxiter, 0)
    check_count("history", history, 1)
    check_scalar_fun(fun, x0, params)
    tol = resolve_tol(tol, x0.dtype)
    value_and_grad = jax.value_and_grad(lambda x: fun(x, params))

    def body(state: _State) -> _State:
        mem = state.mem
        d = _direction(mem, state.g)
        d = jnp.where(jnp.vdot(d, state.g) < 0, d, -state.g)
        gnorm = jnp.linalg.norm(state.g)
        t0 = jnp.where(mem.count > 0, 1, jnp.minimum(1, safe_div(jnp.ones_like(gnorm), gnorm, gnorm > 0)))
        t, f, g, ok = wolfe_search(value_and_grad, state.x, state.f, state.g, d, t0,
                                   maxls=MAXLS, unroll=unroll)
        x = jnp.where(ok, state.x + t * d, state.x)
        mem = jax.tree.map(lambda new, empty: jnp.where(ok, new, empty),
                           _remember(mem, x - state.x, g - state.g), _empty_memory(history, x))
        return _State(x, f, g, mem, ~ok & (state.mem.count == 0))

    f0, g0 = value_and_grad(x0)
    state0 = _State(x0, f0, g0, _empty_memory(history, x0), jnp.zeros((), bool))
    log = iteration_log(verbose, "lbfgs", lambda s: {"objective": s.f, "gradient": jnp.linalg.norm(s.g)})
    state, k = iterate(lambda s: (jnp.linalg.norm(s.g) > tol) & ~s.stalled, body, state0,
                       maxiter=maxiter, unroll=unroll, log=log)
    return state.x, reported(verbose, "lbfgs", make_info(state.x, jnp.linalg.norm(state.g), k, tol))
