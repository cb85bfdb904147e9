"""Euclidean projections onto convex sets and cones, plus KL projections.

Each ``projection_<set>(x, *set_params)`` returns ``argmin_{y in C} ||y - x||_2``.
Set parameters are positional arguments, so JAX differentiates with respect to
them as well as ``x``. Closed forms are differentiated by autodiff; sets whose
projection is computed iteratively (box section, polyhedron, exponential cone,
Sinkhorn) carry a ``jax.custom_jvp`` rule from the implicit function theorem,
so derivatives never flow through the iterations and both forward and reverse
mode work. Everything is pure, ``jit``/``vmap``-safe and keeps the input dtype.

Shape convention: sets that are naturally sets of vectors (simplex, balls,
sphere, hyperplane, halfspace, affine set, box section, polyhedron, the vector
part of the second-order cone) act on the LAST axis; leading axes are a batch
(so a matrix input is projected row by row). Elementwise sets (orthant, box,
hypercube, linf ball, zero, free) act entrywise; the PSD cone acts on the last
two axes; the exponential cones act entrywise on three same-shaped arrays.
"""

from __future__ import annotations

import functools
from typing import Optional, Tuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.scipy.linalg import solve_triangular
from jax.scipy.special import logsumexp
from optdsl.errors import ArgumentError

Array = jax.Array
ArrayLike = jax.typing.ArrayLike

__all__ = [
    "projection_non_negative",
    "projection_box",
    "projection_hypercube",
    "projection_simplex",
    "projection_l1_ball",
    "projection_l2_ball",
    "projection_linf_ball",
    "projection_l2_sphere",
    "projection_hyperplane",
    "projection_halfspace",
    "projection_affine_set",
    "projection_box_section",
    "projection_polyhedron",
    "projection_second_order_cone",
    "projection_psd_cone",
    "projection_exp_cone",
    "projection_exp_cone_dual",
    "projection_zero",
    "projection_free",
    "kl_projection_simplex",
    "kl_projection_transport",
    "kl_projection_birkhoff",
]


# --------------------------------------------------------------------------- helpers


def _floats(*arrays: ArrayLike) -> Tuple[Array, ...]:
    """Cast arrays to their common floating dtype (integers become the default float)."""
    dtype = jnp.result_type(*arrays)
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(float)
    return tuple(jnp.asarray(a, dtype) for a in arrays)


def _vector(name: str, x: Array) -> int:
    """Length of the last axis of a per-vector argument (raises on scalars)."""
    if x.ndim < 1:
        raise ArgumentError(f"{name} must have at least one axis (a vector or a batch of vectors), got a scalar")
    return x.shape[-1]


def _same_last(name: str, arr: Array, n: int, what: str = "x") -> None:
    if arr.ndim < 1 or arr.shape[-1] != n:
        raise ArgumentError(f"{name} must have last axis of length {n} to match {what}, got shape {arr.shape}")


def _safe_norm(x: Array, axis: int = -1, keepdims: bool = False) -> Array:
    """Euclidean norm whose derivative at 0 is 0 instead of NaN."""
    sq = jnp.sum(x * x, axis=axis, keepdims=keepdims)
    positive = sq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1)), 0)


def _safe_div(num: Array, den: Array) -> Array:
    """``num / den`` where ``den != 0``, else 0 (NaN-free in value and derivative)."""
    nonzero = den != 0
    return jnp.where(nonzero, num / jnp.where(nonzero, den, 1), 0)


# --------------------------------------------------------------------------- elementwise sets


def projection_non_negative(x: ArrayLike) -> Array:
    """Projection onto the non-negative orthant ``{y: y >= 0}``: ``max(x, 0)``.

    The orthant is a self-dual cone.

    >>> projection_non_negative(jnp.array([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """
    (x,) = _floats(x)
    return jnp.maximum(x, 0)


def projection_box(x: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> Array:
    """Projection onto the box ``{y: lower <= y <= upper}``: ``clip(x, lower, upper)``.

    ``lower`` and ``upper`` broadcast against ``x`` (scalars or arrays, ``lower <= upper``).

    >>> projection_box(jnp.array([-2.0, 0.5, 3.0]), 0.0, 1.0).tolist()
    [0.0, 0.5, 1.0]
    """
    x, lower, upper = _floats(x, lower, upper)
    return jnp.minimum(jnp.maximum(x, lower), upper)


def projection_hypercube(x: ArrayLike, scale: ArrayLike = 1.0) -> Array:
    """Projection onto the hypercube ``[0, scale]^n``: ``clip(x, 0, scale)``.

    >>> projection_hypercube(jnp.array([-1.0, 0.25, 4.0]), 2.0).tolist()
    [0.0, 0.25, 2.0]
    """
    x, scale = _floats(x, scale)
    return jnp.minimum(jnp.maximum(x, 0), scale)


def projection_linf_ball(x: ArrayLike, radius: ArrayLike = 1.0) -> Array:
    """Projection onto the l-infinity ball ``{y: max_i |y_i| <= radius}``: ``clip(x, -radius, radius)``.

    ``radius`` broadcasts against ``x``.

    >>> projection_linf_ball(jnp.array([-3.0, 0.5]), 2.0).tolist()
    [-2.0, 0.5]
    """
    x, radius = _floats(x, radius)
    return jnp.minimum(jnp.maximum(x, -radius), radius)


def projection_zero(x: ArrayLike) -> Array:
    """Projection onto the zero cone ``{0}``; its dual is the free cone (see :func:`projection_free`).

    >>> projection_zero(jnp.array([1.0, -2.0])).tolist()
    [0.0, 0.0]
    """
    (x,) = _floats(x)
    return jnp.zeros_like(x)


def projection_free(x: ArrayLike) -> Array:
    """Projection onto the free cone ``R^n`` (the identity); its dual is the zero cone.

    >>> projection_free(jnp.array([1.0, -2.0])).tolist()
    [1.0, -2.0]
    """
    (x,) = _floats(x)
    return x


# --------------------------------------------------------------------------- per-vector sets (last axis)


def _last_axis_param(value: Array) -> Array:
    """A scalar or batch-shaped (``x.shape[:-1]``) set parameter, made to broadcast over the last axis."""
    return jnp.expand_dims(value, -1)


def projection_simplex(x: ArrayLike, value: ArrayLike = 1.0) -> Array:
    """Projection onto the simplex ``{y: y >= 0, sum(y) = value}`` along the LAST axis.

    Exact sort-based rule: with ``u`` sorted decreasingly and ``k`` the largest
    index with ``u_k > (sum_{i<=k} u_i - value) / k``, the threshold is
    ``tau = (sum_{i<=k} u_i - value) / k`` and ``y = max(x - tau, 0)``.
    A matrix input is projected row by row; ``value`` is a scalar or has shape
    ``x.shape[:-1]`` (one value per row), and must be positive.

    >>> projection_simplex(jnp.array([0.5, 0.5, 2.0])).tolist()
    [0.0, 0.0, 1.0]
    """
    x, value = _floats(x, value)
    n = _vector("x", x)
    u = -jnp.sort(-x, axis=-1)
    excess = jnp.cumsum(u, axis=-1) - _last_axis_param(value)
    counts = jnp.arange(1, n + 1, dtype=x.dtype)
    support = jnp.sum(u * counts > excess, axis=-1, keepdims=True)
    tau = jnp.take_along_axis(excess, support - 1, axis=-1) / support.astype(x.dtype)
    return jnp.maximum(x - tau, 0)


def projection_l1_ball(x: ArrayLike, radius: ArrayLike = 1.0) -> Array:
    """Projection onto the l1 ball ``{y: ||y||_1 <= radius}`` along the LAST axis.

    Outside the ball it is ``sign(x) * projection_simplex(|x|, radius)``.
    ``radius`` is a scalar or has shape ``x.shape[:-1]``.

    >>> projection_l1_ball(jnp.array([2.0, -1.5]), 1.5).tolist()
    [1.0, -0.5]
    """
    x, radius = _floats(x, radius)
    _vector("x", x)
    inside = jnp.sum(jnp.abs(x), axis=-1, keepdims=True) <= _last_axis_param(radius)
    return jnp.where(inside, x, jnp.sign(x) * projection_simplex(jnp.abs(x), radius))


def projection_l2_ball(x: ArrayLike, radius: ArrayLike = 1.0) -> Array:
    """Projection onto the l2 ball ``{y: ||y||_2 <= radius}`` along the LAST axis.

    ``y = x * min(1, radius / ||x||_2)``; ``radius`` is a scalar or has shape ``x.shape[:-1]``.

    >>> projection_l2_ball(jnp.array([0.0, 2.0]), 1.0).tolist()
    [0.0, 1.0]
    """
    x, radius = _floats(x, radius)
    _vector("x", x)
    norm = _safe_norm(x, keepdims=True)
    radius = _last_axis_param(radius)
    return jnp.where(norm <= radius, x, x * _safe_div(radius, norm))


def projection_l2_sphere(x: ArrayLike, radius: ArrayLike = 1.0) -> Array:
    """Projection onto the (non-convex) sphere ``{y: ||y||_2 = radius}`` along the LAST axis.

    ``y = radius * x / ||x||_2``; at ``x = 0`` every point is nearest and the
    first basis vector times ``radius`` is returned.

    >>> projection_l2_sphere(jnp.array([0.0, 2.0]), 3.0).tolist()
    [0.0, 3.0]
    """
    x, radius = _floats(x, radius)
    n = _vector("x", x)
    norm = _safe_norm(x, keepdims=True)
    e1 = jnp.zeros((n,), x.dtype).at[0].set(1)
    direction = jnp.where(norm > 0, x / jnp.where(norm > 0, norm, 1), e1)
    return _last_axis_param(radius) * direction


def projection_hyperplane(x: ArrayLike, a: ArrayLike, b: ArrayLike) -> Array:
    """Projection onto the hyperplane ``{y: a . y = b}`` along the LAST axis.

    ``y = x - (a . x - b) / ||a||^2 * a``, with ``a != 0`` of shape ``(n,)`` (or
    batched like ``x``) and ``b`` a scalar (or of shape ``x.shape[:-1]``).

    >>> projection_hyperplane(jnp.array([1.0, 1.0]), jnp.array([1.0, 0.0]), 3.0).tolist()
    [3.0, 1.0]
    """
    x, a, b = _floats(x, a, b)
    _same_last("a", a, _vector("x", x))
    gap = jnp.sum(a * x, axis=-1, keepdims=True) - _last_axis_param(b)
    return x - gap / jnp.sum(a * a, axis=-1, keepdims=True) * a


def projection_halfspace(x: ArrayLike, a: ArrayLike, b: ArrayLike) -> Array:
    """Projection onto the halfspace ``{y: a . y <= b}`` along the LAST axis.

    ``y = x - max(a . x - b, 0) / ||a||^2 * a`` (``a != 0``; shapes as in
    :func:`projection_hyperplane`).

    >>> projection_halfspace(jnp.array([1.0, 1.0]), jnp.array([1.0, 0.0]), 3.0).tolist()
    [1.0, 1.0]
    """
    x, a, b = _floats(x, a, b)
    _same_last("a", a, _vector("x", x))
    gap = jnp.maximum(jnp.sum(a * x, axis=-1, keepdims=True) - _last_axis_param(b), 0)
    return x - gap / jnp.sum(a * a, axis=-1, keepdims=True) * a


def projection_affine_set(x: ArrayLike, A: ArrayLike, b: ArrayLike) -> Array:
    """Projection onto the affine set ``{y: A y = b}`` along the LAST axis.

    ``A`` has shape ``(m, n)`` and full row rank ``m <= n``; ``b`` has shape
    ``(m,)`` or ``x.shape[:-1] + (m,)``. With the reduced QR factorisation
    ``A^T = Q R`` (no explicit inverse), ``y = x - Q (Q^T x - R^{-T} b)``, which
    equals ``x - A^T (A A^T)^{-1} (A x - b)``.

    >>> projection_affine_set(jnp.array([0.0, 0.0]), jnp.array([[1.0, 1.0]]), jnp.array([2.0])).round(12).tolist()
    [1.0, 1.0]
    """
    x, A, b = _floats(x, A, b)
    n = _vector("x", x)
    if A.ndim != 2 or A.shape[1] != n or A.shape[0] > n:
        raise ArgumentError(f"A must have shape (m, {n}) with m <= {n} to match x of shape {x.shape}, got {A.shape}")
    m = A.shape[0]
    _same_last("b", b, m, what="the rows of A")
    Q, R = jnp.linalg.qr(A.T, mode="reduced")
    flat_b = b.reshape(-1, m).T
    c = solve_triangular(R, flat_b, trans="T", lower=False).T.reshape(b.shape)
    return x - (x @ Q - c) @ Q.T


# --------------------------------------------------------------------------- box section (bisection + implicit rule)


def _box_section_dual(x: Array, alpha: Array, beta: Array, w: Array, c: Array) -> Array:
    """Root ``nu`` of ``phi(nu) = w . clip(x - nu w, alpha, beta) - c`` (non-increasing in ``nu``).

    Bisection between the extreme breakpoints ``(x_i - alpha_i)/w_i``,
    ``(x_i - beta_i)/w_i`` (where ``phi`` changes sign when the set is
    non-empty), then one exact step on the linear piece the root lies on.
    """
    dtype = x.dtype
    nonzero = w != 0
    w_safe = jnp.where(nonzero, w, 1)
    breaks_lo = jnp.minimum((x - alpha) / w_safe, (x - beta) / w_safe)
    breaks_hi = jnp.maximum((x - alpha) / w_safe, (x - beta) / w_safe)
    any_nonzero = jnp.any(nonzero)
    lo = jnp.where(any_nonzero, jnp.min(jnp.where(nonzero, breaks_lo, jnp.inf)), 0)
    hi = jnp.where(any_nonzero, jnp.max(jnp.where(nonzero, breaks_hi, -jnp.inf)), 0)
    eps = jnp.finfo(dtype).eps

    def phi(nu):
        return jnp.dot(w, jnp.clip(x - nu * w, alpha, beta)) - c

    def unfinished(state):
        lo, hi, it = state
        return (hi - lo > 2 * eps * (1 + jnp.abs(lo) + jnp.abs(hi))) & (it < 256)

    def halve(state):
        lo, hi, it = state
        mid = 0.5 * (lo + hi)
        above = phi(mid) > 0
        return jnp.where(above, mid, lo), jnp.where(above, hi, mid), it + 1

    lo, hi, _ = lax.while_loop(unfinished, halve, (lo, hi, jnp.zeros((), jnp.int32)))
    nu = 0.5 * (lo + hi)
    z = x - nu * w
    free = (z > alpha) & (z < beta)
    w_free = jnp.where(free, w, 0)
    clipped = jnp.where(free, 0, jnp.clip(z, alpha, beta))
    exact = _safe_div(jnp.dot(w_free, x) + jnp.dot(w, clipped) - c, jnp.dot(w_free, w_free))
    polish = (jnp.dot(w_free, w_free) > 0) & (exact >= lo) & (exact <= hi)
    return jnp.where(polish, exact, nu)


@jax.custom_jvp
def _box_section(x: Array, alpha: Array, beta: Array, w: Array, c: Array) -> Array:
    nu = _box_section_dual(x, alpha, beta, w, c)
    return jnp.clip(x - nu * w, alpha, beta)


@_box_section.defjvp
def _box_section_jvp(primals, tangents):
    x, alpha, beta, w, c = primals
    dx, dalpha, dbeta, dw, dc = tangents
    nu = _box_section_dual(x, alpha, beta, w, c)
    z = x - nu * w
    y = jnp.clip(z, alpha, beta)
    at_lower = z <= alpha
    at_upper = z >= beta
    free = ~(at_lower | at_upper)
    # Differentiate y = clip(x - nu w, alpha, beta) and w . y = c; solve the 1-D equation for dnu.
    free_part = jnp.where(free, dx - nu * dw, 0)
    bound_part = jnp.where(at_lower, dalpha, 0) + jnp.where(at_upper, dbeta, 0)
    w_free = jnp.where(free, w, 0)
    dnu = _safe_div(jnp.dot(w, free_part + bound_part) + jnp.dot(dw, y) - dc, jnp.dot(w_free, w_free))
    dy = free_part - dnu * w_free + bound_part
    return y, dy


def projection_box_section(x: ArrayLike, alpha: ArrayLike, beta: ArrayLike, w: ArrayLike, c: ArrayLike) -> Array:
    """Projection onto the box section ``{y: alpha <= y <= beta, w . y = c}`` along the LAST axis.

    ``y = clip(x - nu w, alpha, beta)`` where the scalar dual ``nu`` solves
    ``w . clip(x - nu w, alpha, beta) = c``; it is found by bisection in a
    ``lax.while_loop`` and polished exactly, and differentiated by the implicit
    function theorem on that 1-D equation (not through the bisection).
    ``alpha``, ``beta``, ``w`` broadcast against ``x``; ``c`` is a scalar or has
    shape ``x.shape[:-1]``. The set must be non-empty.

    >>> projection_box_section(jnp.array([1.0, 1.0]), 0.0, 1.0, jnp.array([1.0, 1.0]), 1.0).tolist()
    [0.5, 0.5]
    """
    x, alpha, beta, w, c = _floats(x, alpha, beta, w, c)
    n = _vector("x", x)
    for name, arr in (("alpha", alpha), ("beta", beta), ("w", w)):
        if arr.ndim > 0 and arr.shape[-1] not in (1, n):
            raise ArgumentError(f"{name} must broadcast against x of shape {x.shape}, got shape {arr.shape}")
    return jnp.vectorize(_box_section, signature="(n),(n),(n),(n),()->(n)")(
        x, jnp.broadcast_to(alpha, jnp.broadcast_shapes(alpha.shape, (n,))),
        jnp.broadcast_to(beta, jnp.broadcast_shapes(beta.shape, (n,))),
        jnp.broadcast_to(w, jnp.broadcast_shapes(w.shape, (n,))), c)


# --------------------------------------------------------------------------- polyhedron (interior point + KKT rule)


def _polyhedron_ipm(x: Array, A: Array, b: Array, G: Array, h: Array) -> Tuple[Array, Array, Array, Array]:
    """Solve ``min 1/2 ||y - x||^2 s.t. A y = b, G y + s = h, s >= 0`` by Mehrotra's predictor-corrector.

    Returns ``(y, nu, lam, s)``: the primal point, equality and inequality
    multipliers and slacks. Each Newton step solves the reduced symmetric system
    ``[[I + G^T W G, A^T], [A, 0]]`` with ``W = diag(lam / s)``.
    """
    dtype = x.dtype
    n, p, m = x.shape[0], A.shape[0], G.shape[0]
    eye = jnp.eye(n, dtype=dtype)
    zeros_pp = jnp.zeros((p, p), dtype)
    scale = 1 + jnp.maximum(jnp.max(jnp.abs(x)), jnp.maximum(jnp.max(jnp.abs(b), initial=0), jnp.max(jnp.abs(h), initial=0)))
    tol = jnp.finfo(dtype).eps ** 0.8 * scale

    def residuals(y, nu, lam, s):
        return y - x + A.T @ nu + G.T @ lam, A @ y - b, G @ y + s - h

    def newton(lam, s, rd, rp, rg, rc):
        weight = lam / s
        kkt = jnp.block([[eye + G.T @ (weight[:, None] * G), A.T], [A, zeros_pp]])
        rhs = jnp.concatenate([-rd - G.T @ (weight * (rg - rc / lam)), -rp])
        step = jnp.linalg.solve(kkt, rhs)
        dy, dnu = step[:n], step[n:]
        dlam = weight * (G @ dy + rg - rc / lam)
        ds = (-rc - s * dlam) / lam
        return dy, dnu, dlam, ds

    def max_step(v, dv):
        ratios = jnp.where(dv < 0, -v / jnp.where(dv < 0, dv, -1), jnp.inf)
        return jnp.minimum(1, jnp.min(ratios, initial=jnp.inf))

    def gap(lam, s):
        return jnp.sum(lam * s) / max(m, 1)

    def error(state):
        y, nu, lam, s, _ = state
        rd, rp, rg = residuals(y, nu, lam, s)
        norms = [jnp.max(jnp.abs(r), initial=0) for r in (rd, rp, rg)]
        return jnp.maximum(jnp.maximum(norms[0], norms[1]), jnp.maximum(norms[2], gap(lam, s)))

    def unfinished(state):
        return (error(state) > tol) & (state[-1] < 100)

    def iterate(state):
        y, nu, lam, s, it = state
        rd, rp, rg = residuals(y, nu, lam, s)
        mu = gap(lam, s)
        dy, dnu, dlam, ds = newton(lam, s, rd, rp, rg, lam * s)
        alpha = jnp.minimum(max_step(lam, dlam), max_step(s, ds))
        mu_aff = gap(lam + alpha * dlam, s + alpha * ds)
        sigma = _safe_div(mu_aff, mu) ** 3
        rc = lam * s + dlam * ds - sigma * mu
        dy, dnu, dlam, ds = newton(lam, s, rd, rp, rg, rc)
        alpha = jnp.minimum(1, 0.99 * jnp.minimum(max_step(lam, dlam), max_step(s, ds)))
        return y + alpha * dy, nu + alpha * dnu, lam + alpha * dlam, s + alpha * ds, it + 1

    state = (x, jnp.zeros((p,), dtype), jnp.ones((m,), dtype), jnp.maximum(h - G @ x, 1),
             jnp.zeros((), jnp.int32))
    y, nu, lam, s, _ = lax.while_loop(unfinished, iterate, state)
    return y, nu, lam, s


def _active_kkt(A: Array, G: Array, active: Array) -> Array:
    """KKT matrix of ``min 1/2||y - x||^2 s.t. A y = b, G_j y = h_j (j active)`` in ``(y, nu, lam)``.

    Rows of inactive inequalities read ``lam_j = 0``, so the size stays static.
    """
    n, p, m = A.shape[1], A.shape[0], G.shape[0]
    dtype = A.dtype
    return jnp.block([
        [jnp.eye(n, dtype=dtype), A.T, G.T],
        [A, jnp.zeros((p, p + m), dtype)],
        [jnp.where(active[:, None], G, 0), jnp.zeros((m, p), dtype), jnp.diag(jnp.where(active, 0, 1).astype(dtype))],
    ])


def _polyhedron_solve(x: Array, A: Array, b: Array, G: Array, h: Array) -> Tuple[Array, Array, Array, Array]:
    """Interior-point solution, then an exact solve on the identified active set.

    The polish fixes the slow final convergence of interior points on
    degenerate instances (a constraint active with a zero multiplier); it is
    kept only if the polished point is feasible with non-negative multipliers.
    Returns ``(y, nu, lam, active)``.
    """
    y, nu, lam, s = _polyhedron_ipm(x, A, b, G, h)
    n, p = x.shape[0], A.shape[0]
    active = lam > s
    sol = jnp.linalg.solve(_active_kkt(A, G, active), jnp.concatenate([x, b, jnp.where(active, h, 0)]))
    y_act, nu_act, lam_act = sol[:n], sol[n:n + p], sol[n + p:]
    tol = jnp.finfo(x.dtype).eps ** 0.5 * (1 + jnp.max(jnp.abs(x)))
    accept = (jnp.all(jnp.isfinite(sol)) & jnp.all(G @ y_act - h <= tol) & jnp.all(lam_act >= -tol))
    return (jnp.where(accept, y_act, y), jnp.where(accept, nu_act, nu),
            jnp.where(accept, jnp.maximum(lam_act, 0), lam), active)


@jax.custom_jvp
def _polyhedron(x: Array, A: Array, b: Array, G: Array, h: Array) -> Array:
    return _polyhedron_solve(x, A, b, G, h)[0]


@_polyhedron.defjvp
def _polyhedron_jvp(primals, tangents):
    x, A, b, G, h = primals
    dx, dA, db, dG, dh = tangents
    y, nu, lam, active = _polyhedron_solve(x, A, b, G, h)
    # Differentiated KKT conditions: active inequalities act as equalities, inactive ones keep dlam = 0.
    rhs = jnp.concatenate([
        dx - dA.T @ nu - dG.T @ lam,
        db - dA @ y,
        jnp.where(active, dh - dG @ y, 0),
    ])
    return y, jnp.linalg.solve(_active_kkt(A, G, active), rhs)[:x.shape[0]]


def projection_polyhedron(x: ArrayLike, A: ArrayLike, b: ArrayLike, G: ArrayLike, h: ArrayLike) -> Array:
    """Projection onto the polyhedron ``{y: A y = b, G y <= h}`` along the LAST axis.

    Solves ``min 1/2 ||y - x||^2`` over the set with a dense primal-dual
    interior-point method (Mehrotra predictor-corrector) polished by an exact
    solve on the identified active set (about machine precision in float64 on
    small instances), and differentiates implicitly
    through the KKT conditions (active inequalities as equalities), assuming
    the active constraints together with ``A`` are linearly independent and
    strict complementarity. ``A``: ``(p, n)``, ``b``: ``(p,)``, ``G``: ``(m, n)``,
    ``h``: ``(m,)``; ``p`` or ``m`` may be 0. The set must be non-empty.

    >>> G = jnp.array([[1.0, 0.0]])
    >>> projection_polyhedron(jnp.array([2.0, 0.0]), jnp.zeros((0, 2)), jnp.zeros(0), G, jnp.array([1.0])).round(9).tolist()
    [1.0, 0.0]
    """
    x, A, b, G, h = _floats(x, A, b, G, h)
    n = _vector("x", x)
    if A.ndim < 2 or A.shape[-1] != n:
        raise ArgumentError(f"A must have shape (p, {n}) to match x of shape {x.shape}, got {A.shape}")
    if G.ndim < 2 or G.shape[-1] != n:
        raise ArgumentError(f"G must have shape (m, {n}) to match x of shape {x.shape}, got {G.shape}")
    _same_last("b", b, A.shape[-2], what="the rows of A")
    _same_last("h", h, G.shape[-2], what="the rows of G")
    return jnp.vectorize(_polyhedron, signature="(n),(p,n),(p),(m,n),(m)->(n)")(x, A, b, G, h)


# --------------------------------------------------------------------------- second-order and PSD cones


def projection_second_order_cone(t: ArrayLike, x: ArrayLike) -> Tuple[Array, Array]:
    """Projection onto the second-order cone ``{(t, x): ||x||_2 <= t}``; returns ``(t', x')``.

    ``x`` has shape ``(..., n)`` and ``t`` shape ``(...)`` (norm over the LAST
    axis). With ``r = ||x||``: ``(t, x)`` if ``r <= t``; ``(0, 0)`` if ``r <= -t``;
    else ``((t + r)/2, (t + r)/(2 r) x)``. The cone is self-dual, so this is also
    the projection onto its dual.

    >>> tuple(v.tolist() for v in projection_second_order_cone(jnp.array(0.0), jnp.array([2.0, 0.0])))
    (1.0, [1.0, 0.0])
    """
    t, x = _floats(t, x)
    _vector("x", x)
    if t.shape != x.shape[:-1]:
        raise ArgumentError(f"t must have shape x.shape[:-1] = {x.shape[:-1]}, got {t.shape}")
    r = _safe_norm(x)
    half = 0.5 * (t + r)
    inside = r <= t
    polar = r <= -t
    t_out = jnp.where(inside, t, jnp.where(polar, 0, half))
    x_out = jnp.where(inside[..., None], x, jnp.where(polar[..., None], 0, _safe_div(half, r)[..., None] * x))
    return t_out, x_out


@jax.custom_jvp
def _psd_symmetric(S: Array) -> Array:
    w, V = jnp.linalg.eigh(S)
    return (V * jnp.maximum(w, 0)[..., None, :]) @ jnp.swapaxes(V, -1, -2)


@_psd_symmetric.defjvp
def _psd_symmetric_jvp(primals, tangents):
    (S,), (dS,) = primals, tangents
    w, V = jnp.linalg.eigh(S)
    Vt = jnp.swapaxes(V, -1, -2)
    positive = jnp.maximum(w, 0)
    out = (V * positive[..., None, :]) @ Vt
    # Divided differences of max(., 0) on the spectrum; the derivative on (near-)ties.
    gaps = w[..., :, None] - w[..., None, :]
    rises = positive[..., :, None] - positive[..., None, :]
    slope = (w > 0).astype(S.dtype)
    tie_slope = 0.5 * (slope[..., :, None] + slope[..., None, :])
    tol = 16 * jnp.finfo(S.dtype).eps * jnp.max(jnp.abs(w), axis=-1, keepdims=True)[..., None]
    tied = jnp.abs(gaps) <= tol
    gamma = jnp.where(tied, tie_slope, rises / jnp.where(tied, 1, gaps))
    return out, V @ (gamma * (Vt @ dS @ V)) @ Vt


def projection_psd_cone(X: ArrayLike) -> Array:
    """Projection onto the PSD cone ``{Y = Y^T, Y >= 0}`` in Frobenius norm; acts on the LAST two axes.

    With ``(X + X^T)/2 = V diag(w) V^T``: ``Y = V diag(max(w, 0)) V^T`` (the
    skew part of ``X`` is orthogonal to symmetric matrices, so non-symmetric
    input is handled exactly). The JVP is ``V (Gamma o (V^T dX_sym V)) V^T``
    with divided differences ``Gamma_ij = (max(w_i,0) - max(w_j,0))/(w_i - w_j)``
    (the derivative on ties), so repeated eigenvalues give no NaN. The PSD cone
    is self-dual.

    >>> projection_psd_cone(jnp.array([[1.0, 0.0], [0.0, -1.0]])).tolist()
    [[1.0, 0.0], [0.0, 0.0]]
    """
    (X,) = _floats(X)
    if X.ndim < 2 or X.shape[-1] != X.shape[-2]:
        raise ArgumentError(f"X must be a square matrix (or a batch of them), got shape {X.shape}")
    return _psd_symmetric(0.5 * (X + jnp.swapaxes(X, -1, -2)))


# --------------------------------------------------------------------------- exponential cone


def _exp_root_fun(rho: Array, r: Array, s: Array, t: Array) -> Array:
    """Scalar equation whose root ``rho = r'/s'`` locates the projection on the cone boundary.

    The projection is ``p = sigma (rho, 1, e^rho)`` and ``v - p`` is normal to the
    boundary there, along ``(e^rho, (1 - rho) e^rho, -1)``; ``v`` then has no
    component along the cross product of those two directions, which (divided
    by ``e^rho``) reads
    ``e^rho ((rho - 1) r + s) - e^-rho (r - rho s) - t (rho^2 - rho + 1) = 0``.
    The left side is returned times ``e^-|rho|``: the same root, no overflow for
    roots far from zero (they occur when ``|r/s|`` or ``|s/r|`` is large), and a
    nearly linear function there, so Newton's method reaches them in a few steps.
    """
    a = jnp.abs(rho)
    return (jnp.exp(rho - a) * ((rho - 1) * r + s) - jnp.exp(-rho - a) * (r - rho * s)
            - t * (rho * rho - rho + 1) * jnp.exp(-a))


def _exp_root_slope(rho: Array, r: Array, s: Array, t: Array) -> Array:
    """Derivative of :func:`_exp_root_fun` in ``rho``."""
    return jax.jvp(lambda q: _exp_root_fun(q, r, s, t), (rho,), (jnp.ones_like(rho),))[1]


@jax.custom_jvp
def _exp_root(r: Array, s: Array, t: Array) -> Array:
    """Root of :func:`_exp_root_fun` for a scalar point outside the cone, its polar and ``{r, s <= 0}``.

    The root lies in ``(1 - s/r, r/s)`` (each end where ``r > 0`` resp. ``s > 0``;
    the function is negative at the first, positive at the second exactly
    because the point is outside the polar and the primal cone). A missing end
    is found by doubling steps, then a bracketed Newton iteration with a
    bisection fallback converges to machine precision.
    """
    dtype = r.dtype
    eps = jnp.finfo(dtype).eps
    r_pos, s_pos = r > 0, s > 0
    low0 = 1 - s / jnp.where(r_pos, r, 1)
    upp0 = r / jnp.where(s_pos, s, 1)
    lo = jnp.where(r_pos, low0, upp0 - 1)
    hi = jnp.where(s_pos, upp0, low0 + 1)

    def f(rho):
        return _exp_root_fun(rho, r, s, t)

    def unbracketed(state):
        lo, hi, width, it = state
        return ((f(lo) > 0) | (f(hi) < 0)) & (it < 64)

    def widen(state):
        lo, hi, width, it = state
        return jnp.where(f(lo) > 0, lo - width, lo), jnp.where(f(hi) < 0, hi + width, hi), 2 * width, it + 1

    one = jnp.ones((), dtype)
    lo, hi, _, _ = lax.while_loop(unbracketed, widen, (lo, hi, one, jnp.zeros((), jnp.int32)))

    def unfinished(state):
        lo, hi, rho, step, it = state
        small = jnp.abs(step) <= 4 * eps * jnp.maximum(1, jnp.abs(rho))
        return ~small & (hi - lo > 4 * eps * jnp.maximum(1, jnp.abs(rho))) & (it < 200)

    def newton(state):
        lo, hi, rho, _, it = state
        value = f(rho)
        lo = jnp.where(value < 0, rho, lo)
        hi = jnp.where(value > 0, rho, hi)
        slope = _exp_root_slope(rho, r, s, t)
        trial = rho - value / jnp.where(slope > 0, slope, 1)
        ok = (slope > 0) & (trial > lo) & (trial < hi) & jnp.isfinite(trial)
        new = jnp.where(value == 0, rho, jnp.where(ok, trial, 0.5 * (lo + hi)))
        return lo, hi, new, new - rho, it + 1

    state = (lo, hi, 0.5 * (lo + hi), jnp.asarray(jnp.inf, dtype), jnp.zeros((), jnp.int32))
    return lax.while_loop(unfinished, newton, state)[2]


@_exp_root.defjvp
def _exp_root_jvp(primals, tangents):
    r, s, t = primals
    rho = _exp_root(r, s, t)
    _, dvalue = jax.jvp(functools.partial(_exp_root_fun, rho), primals, tangents)
    return rho, -_safe_div(dvalue, _exp_root_slope(rho, r, s, t))


def _sq_dist(p: Tuple[Array, ...], q: Tuple[Array, ...]) -> Array:
    return sum((a - b) ** 2 for a, b in zip(p, q))


def _exp_root_point(rho: Array, r: Array, s: Array, t: Array) -> Tuple[Array, Array, Array]:
    """``sigma (rho, 1, e^rho)`` with ``sigma e^rho`` from whichever of two equal forms cancels less.

    ``sigma = ((rho - 1) r + s)_+ / d`` with ``d = rho^2 - rho + 1``; ``t' = e^rho sigma`` is taken in
    logs (``rho`` may be huge while ``sigma`` is tiny). At the root ``t' = t + e^-rho (r - rho s) / d``
    as well, which keeps full accuracy when the numerator above cancels (``rho`` near ``1 - s/r``).
    """
    numerator, denominator = (rho - 1) * r + s, rho * rho - rho + 1
    positive = numerator > 0
    safe_numerator = jnp.where(positive, numerator, 1)
    # Capped exponent: when this form is not selected it may overflow, and inf would poison the gradient.
    log_t = jnp.minimum(rho + jnp.log(safe_numerator) - jnp.log(denominator), jnp.log(jnp.finfo(rho.dtype).max) / 2)
    direct_t = jnp.where(positive, jnp.exp(log_t), 0)
    correction = jnp.exp(-jnp.maximum(rho, 0)) * (r - rho * s) / denominator
    identity_t = jnp.maximum(t + correction, 0)
    # Relative error amplification of each form; the identity form is only used for rho > 0.
    direct_cond = jnp.where(positive, (jnp.abs((rho - 1) * r) + jnp.abs(s)) / safe_numerator, jnp.inf)
    identity_cond = jnp.where(identity_t > 0, (jnp.abs(t) + jnp.abs(correction)) / jnp.where(identity_t > 0, identity_t, 1),
                              jnp.inf)
    use_identity = (rho > 0) & (identity_cond < direct_cond)
    root_t = jnp.where(use_identity, identity_t, direct_t)
    sigma = jnp.where(use_identity, jnp.exp(-jnp.maximum(rho, 0)) * identity_t, jnp.where(positive, numerator, 0) / denominator)
    return rho * sigma, sigma, root_t


def _exp_cone_point(r: Array, s: Array, t: Array) -> Tuple[Array, Array, Array]:
    """Projection of one scalar point ``(r, s, t)`` onto the exponential cone (see :func:`projection_exp_cone`)."""
    s_pos, r_pos = s > 0, r > 0
    s_safe, r_safe = jnp.where(s_pos, s, 1), jnp.where(r_pos, r, 1)
    in_cone = jnp.where(s_pos, s_safe * jnp.exp(r / s_safe) <= t, (r <= 0) & (s == 0) & (t >= 0))
    in_polar = jnp.where(r_pos, r_safe * jnp.exp(s / r_safe) <= -jnp.e * t, (r == 0) & (s <= 0) & (t <= 0))
    corner = (r <= 0) & (s <= 0)
    boundary = ~(in_cone | in_polar | corner)
    # Root-finding branch, fed a harmless point where it is not selected (keeps values and tangents finite).
    rb, sb, tb = (jnp.where(boundary, v, d) for v, d in ((r, 1), (s, 1), (t, 0)))
    rho = _exp_root(rb, sb, tb)
    root_point = _exp_root_point(rho, rb, sb, tb)
    # Feasible fallbacks that guard the root branch against rounding near the cone's faces:
    # the face {s = 0} and, when s > 0, the point lifted vertically onto the boundary.
    face = (jnp.minimum(rb, 0), jnp.zeros_like(rb), jnp.maximum(tb, 0))
    sb_safe = jnp.where(sb > 0, sb, 1)
    exponent = jnp.minimum(rb / sb_safe, jnp.log(jnp.finfo(rb.dtype).max) / 2)
    lifted = (rb, sb, jnp.maximum(tb, sb * jnp.exp(exponent)))
    best, best_dist = root_point, _sq_dist(root_point, (rb, sb, tb))
    for cand, valid in ((face, True), (lifted, sb > 0)):
        dist = _sq_dist(cand, (rb, sb, tb))
        better = valid & (dist < best_dist)
        best = tuple(jnp.where(better, c, b) for c, b in zip(cand, best))
        best_dist = jnp.where(better, dist, best_dist)
    zero = jnp.zeros_like(r)
    out_r = jnp.where(in_cone | corner, r, jnp.where(in_polar, zero, best[0]))
    out_s = jnp.where(in_cone, s, jnp.where(in_polar | corner, zero, best[1]))
    out_t = jnp.where(in_cone, t, jnp.where(in_polar, zero, jnp.where(corner, jnp.maximum(t, 0), best[2])))
    return out_r, out_s, out_t


def projection_exp_cone(r: ArrayLike, s: ArrayLike, t: ArrayLike) -> Tuple[Array, Array, Array]:
    """Projection onto the exponential cone ``K = closure{(r, s, t): s > 0, s exp(r/s) <= t}``.

    Entrywise over same-shaped ``r, s, t``; returns ``(r', s', t')``. Cases:
    ``v`` in ``K`` -> ``v``; ``v`` in the polar ``-K*`` -> ``0``; ``r <= 0, s <= 0``
    -> ``(r, 0, max(t, 0))``; otherwise ``sigma (rho, 1, e^rho)`` with
    ``sigma = ((rho - 1) r + s)/(rho^2 - rho + 1)`` and ``rho`` the root of a
    scalar equation (the univariate reduction of Friberg, 2021), found by
    bracketed Newton/bisection and differentiated implicitly.

    >>> tuple(round(float(v), 12) for v in projection_exp_cone(jnp.array(-1.0), jnp.array(-1.0), jnp.array(2.0)))
    (-1.0, 0.0, 2.0)
    """
    r, s, t = _floats(r, s, t)
    if not (r.shape == s.shape == t.shape):
        raise ArgumentError(f"r, s, t must have the same shape, got {r.shape}, {s.shape}, {t.shape}")
    return jnp.vectorize(_exp_cone_point)(r, s, t)


def projection_exp_cone_dual(r: ArrayLike, s: ArrayLike, t: ArrayLike) -> Tuple[Array, Array, Array]:
    """Projection onto the dual exponential cone ``K* = closure{(u, v, w): u < 0, -u exp(v/u) <= e w}``.

    Moreau's decomposition ``z = P_K(z) + P_{K polar}(z)`` with ``K polar = -K*`` gives
    ``P_{K*}(z) = -P_{K polar}(-z) = z + P_K(-z)``. Entrywise over same-shaped inputs.

    >>> tuple(float(v) for v in projection_exp_cone_dual(jnp.array(-1.0), jnp.array(0.0), jnp.array(1.0)))
    (-1.0, 0.0, 1.0)
    """
    r, s, t = _floats(r, s, t)
    pr, ps, pt = projection_exp_cone(-r, -s, -t)
    return r + pr, s + ps, t + pt


# --------------------------------------------------------------------------- KL projections


def kl_projection_simplex(logits: ArrayLike, value: ArrayLike = 1.0) -> Array:
    """KL projection of ``exp(logits)`` onto the simplex ``{y >= 0, sum(y) = value}`` along the LAST axis.

    ``argmin_y sum_i y_i log(y_i / exp(logits_i)) - y_i`` over the simplex is
    ``value * softmax(logits)``; the input is given as logits (log of a
    positive vector) so it is defined for any real array.

    >>> kl_projection_simplex(jnp.log(jnp.array([1.0, 3.0]))).tolist()
    [0.25, 0.75]
    """
    logits, value = _floats(logits, value)
    _vector("logits", logits)
    return _last_axis_param(value) * jax.nn.softmax(logits, axis=-1)


def _sinkhorn_tolerance(tol: Optional[float], dtype) -> float:
    return float(jnp.finfo(dtype).eps) ** 0.75 if tol is None else tol


def _sinkhorn_potentials(cost: Array, a: Array, b: Array, epsilon: Array, tol: Optional[float],
                         max_iter: int) -> Tuple[Array, Array]:
    """Dual potentials ``(f, g)`` of entropic transport by log-domain Sinkhorn.

    Alternates ``f = eps log a - eps LSE_j((g_j - C_ij)/eps)`` and the column
    update until the row-marginal l1 error is at most ``tol`` or ``max_iter``.
    """
    dtype = cost.dtype
    log_a, log_b = jnp.log(a), jnp.log(b)
    tol = _sinkhorn_tolerance(tol, dtype)

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
def _transport(cost: Array, a: Array, b: Array, epsilon: Array, tol: Optional[float], max_iter: int) -> Array:
    f, g = _sinkhorn_potentials(cost, a, b, epsilon, tol, max_iter)
    return jnp.exp((f[:, None] + g[None, :] - cost) / epsilon)


@_transport.defjvp
def _transport_jvp(tol, max_iter, primals, tangents):
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


def kl_projection_transport(cost: ArrayLike, a: ArrayLike, b: ArrayLike, epsilon: ArrayLike,
                            tol: Optional[float] = None, max_iter: int = 1000) -> Array:
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
    cost, a, b, epsilon = _floats(cost, a, b, epsilon)
    if cost.ndim != 2:
        raise ArgumentError(f"cost must be a matrix of shape (n, m), got shape {cost.shape}")
    if a.shape != cost.shape[:1] or b.shape != cost.shape[1:]:
        raise ArgumentError(f"a and b must have shapes {cost.shape[:1]} and {cost.shape[1:]} to match cost, "
                         f"got {a.shape} and {b.shape}")
    if epsilon.ndim != 0:
        raise ArgumentError(f"epsilon must be a scalar, got shape {epsilon.shape}")
    return _transport(cost, a, b, epsilon, tol, max_iter)


def kl_projection_birkhoff(cost: ArrayLike, epsilon: ArrayLike, tol: Optional[float] = None,
                           max_iter: int = 1000) -> Array:
    """KL projection of ``exp(-cost/epsilon)`` onto the Birkhoff polytope of doubly stochastic matrices.

    :func:`kl_projection_transport` with ``a = b = 1`` (rows and columns sum to 1);
    ``cost`` is square.

    >>> kl_projection_birkhoff(jnp.zeros((2, 2)), 1.0).round(12).tolist()
    [[0.5, 0.5], [0.5, 0.5]]
    """
    (cost,) = _floats(cost)
    if cost.ndim != 2 or cost.shape[0] != cost.shape[1]:
        raise ArgumentError(f"cost must be a square matrix, got shape {cost.shape}")
    ones = jnp.ones(cost.shape[:1], cost.dtype)
    return kl_projection_transport(cost, ones, ones, jnp.asarray(epsilon, cost.dtype), tol, max_iter)
