"""KL projections: ``argmin_y KL(y || z)`` over the simplex, the transport polytope and the Birkhoff polytope.

The simplex has a closed form (a softmax of the logits). The polytopes of
matrices with fixed marginals are solved by log-domain Sinkhorn in a
``lax.while_loop`` and differentiated implicitly through the marginal
equations of the dual potentials, never through the sweeps.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.scipy.special import logsumexp

from optdsl.errors import ArgumentError
from optdsl.runtime.compilation_cache import jit
from optdsl.runtime.projections._common import Array, ArrayLike, as_floats, last_axis_param, vector_size


def kl_projection_simplex(logits: ArrayLike, value: ArrayLike = 1.0) -> Array:
    """KL projection of ``exp(logits)`` onto the simplex ``{y >= 0, sum(y) = value}`` along the LAST axis.

    ``argmin_y sum_i y_i log(y_i / exp(logits_i)) - y_i`` over the simplex is
    ``value * softmax(logits)``; the input is given as logits (log of a
    positive vector) so it is defined for any real array.

    >>> kl_projection_simplex(jnp.log(jnp.array([1.0, 3.0]))).tolist()
    [0.25, 0.75]
    """
    logits, value = as_floats(logits, value)
    vector_size("logits", logits)
    return last_axis_param(value) * jax.nn.softmax(logits, axis=-1)


def _sinkhorn_potentials(cost: Array, a: Array, b: Array, epsilon: Array, tol: float | None,
                         max_iter: int) -> tuple[Array, Array]:
    """Dual potentials ``(f, g)`` of entropic transport by log-domain Sinkhorn.

    Alternates ``f = eps log a - eps LSE_j((g_j - C_ij)/eps)`` and the column
    update until the row-marginal l1 error is at most ``tol`` or ``max_iter``.
    """
    dtype = cost.dtype
    log_a, log_b = jnp.log(a), jnp.log(b)
    tol = float(jnp.finfo(dtype).eps) ** 0.75 if tol is None else tol

    def unfinished(state):
        _, _, err, it = state
        return (err > tol) & (it < max_iter)

    def sweep(state):
        f, g, _, it = state
        row_lse = logsumexp((g[None, :] - cost) / epsilon, axis=1)
        err = jnp.sum(jnp.abs(jnp.exp(f / epsilon + row_lse) - a))
        f = epsilon * (log_a - row_lse)
        g = epsilon * (log_b - logsumexp((f[:, None] - cost) / epsilon, axis=0))
        return f, g, err, it + 1

    state = (jnp.zeros(a.shape, dtype), jnp.zeros(b.shape, dtype), jnp.asarray(jnp.inf, dtype),
             jnp.zeros((), jnp.int32))
    f, g, _, _ = lax.while_loop(unfinished, sweep, state)
    return f, g


@functools.partial(jax.custom_jvp, nondiff_argnums=(4, 5))
def _transport(cost: Array, a: Array, b: Array, epsilon: Array, tol: float | None, max_iter: int) -> Array:
    f, g = _sinkhorn_potentials(cost, a, b, epsilon, tol, max_iter)
    return jnp.exp((f[:, None] + g[None, :] - cost) / epsilon)


@_transport.defjvp
def _transport_jvp(tol: float | None, max_iter: int, primals: tuple[Array, ...],
                   tangents: tuple[Array, ...]) -> tuple[Array, Array]:
    cost, a, b, epsilon = primals
    dcost, da, db, depsilon = tangents
    f, g = _sinkhorn_potentials(cost, a, b, epsilon, tol, max_iter)
    log_plan = (f[:, None] + g[None, :] - cost) / epsilon
    plan = jnp.exp(log_plan)
    rows, cols = plan.sum(axis=1), plan.sum(axis=0)
    # Marginal equations P 1 = a, P^T 1 = b differentiated in the scaled potentials (phi, gamma);
    # phi is eliminated and the gauge (phi + c, gamma - c) fixed by a rank-one term.
    shift = (dcost + log_plan * depsilon) / epsilon
    u = da + jnp.sum(plan * shift, axis=1)
    v = db + jnp.sum(plan * shift, axis=0)
    schur = jnp.diag(cols) - plan.T @ (plan / rows[:, None]) + jnp.mean(cols)
    gamma = jnp.linalg.solve(schur, v - plan.T @ (u / rows))
    phi = (u - plan @ gamma) / rows
    return plan, plan * (phi[:, None] + gamma[None, :] - shift)


#: Compiled once per shape and settings: called eagerly, the Sinkhorn loop would be traced and compiled at each call.
_transports = jit(_transport, static_argnums=(4, 5))


def kl_projection_transport(cost: ArrayLike, a: ArrayLike, b: ArrayLike, epsilon: ArrayLike,
                            tol: float | None = None, max_iter: int = 1000) -> Array:
    """KL projection of ``exp(-cost/epsilon)`` onto the transport polytope ``{P >= 0, P 1 = a, P^T 1 = b}``.

    Equivalently the entropic optimal-transport plan
    ``argmin_P <cost, P> - epsilon H(P)``: ``P = exp((f_i + g_j - cost_ij)/epsilon)``
    with potentials ``f, g`` from log-domain Sinkhorn (``lax.while_loop`` until the
    marginal l1 error is at most ``tol`` -- default ``eps(dtype)**0.75`` -- or
    ``max_iter`` sweeps). Differentiated implicitly through the marginal
    equations of the potentials, not by unrolling. ``cost``: ``(n, m)``;
    ``a``: ``(n,)`` and ``b``: ``(m,)`` positive with ``sum(a) = sum(b)``
    (derivatives in ``a, b`` are meaningful along mass-preserving directions);
    ``epsilon > 0``.

    >>> P = kl_projection_transport(jnp.zeros((2, 2)), jnp.array([0.5, 0.5]), jnp.array([0.25, 0.75]), 1.0)
    >>> P.round(12).tolist()
    [[0.125, 0.375], [0.125, 0.375]]
    """
    cost, a, b, epsilon = as_floats(cost, a, b, epsilon)
    if cost.ndim != 2:
        raise ArgumentError(f"cost must be a matrix of shape (n, m), got shape {cost.shape}")
    if a.shape != cost.shape[:1] or b.shape != cost.shape[1:]:
        raise ArgumentError(f"a and b must have shapes {cost.shape[:1]} and {cost.shape[1:]} to match cost, "
                             f"got {a.shape} and {b.shape}")
    if epsilon.ndim != 0:
        raise ArgumentError(f"epsilon must be a scalar, got shape {epsilon.shape}")
    return _transports(cost, a, b, epsilon, tol, max_iter)


def kl_projection_birkhoff(cost: ArrayLike, epsilon: ArrayLike, tol: float | None = None,
                           max_iter: int = 1000) -> Array:
    """KL projection of ``exp(-cost/epsilon)`` onto the Birkhoff polytope of doubly stochastic matrices.

    :func:`kl_projection_transport` with ``a = b = 1`` (rows and columns sum to 1);
    ``cost`` is square.

    >>> kl_projection_birkhoff(jnp.zeros((2, 2)), 1.0).round(12).tolist()
    [[0.5, 0.5], [0.5, 0.5]]
    """
    (cost,) = as_floats(cost)
    if cost.ndim != 2 or cost.shape[0] != cost.shape[1]:
        raise ArgumentError(f"cost must be a square matrix, got shape {cost.shape}")
    ones = jnp.ones(cost.shape[:1], cost.dtype)
    return kl_projection_transport(cost, ones, ones, jnp.asarray(epsilon, cost.dtype), tol, max_iter)
