"""Euclidean projections onto cones: the orthant, zero and free cones, second-order, PSD, exponential and power cones.

These are the factors of the conic solver's product cone
(:mod:`optdsl.runtime.solvers.cones`). All are closed forms except the
exponential and power cones, whose boundary point is the root of a scalar
equation found by bracketed Newton and differentiated implicitly. The PSD projection has its
own JVP (divided differences of the spectrum), finite on repeated eigenvalues.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from optdsl.errors import ArgumentError
from optdsl.runtime.compilation_cache import jit
from optdsl.runtime.projections._common import Array, ArrayLike, as_floats, vector_size
from optdsl.runtime.safe_math import safe_div, safe_norm
from optdsl.runtime.scalar_root import bracketed_root
from optdsl.runtime.tree import on_leaves_vector


@on_leaves_vector
def projection_non_negative(x: ArrayLike) -> Array:
    """Projection onto the non-negative orthant ``{y: y >= 0}``: ``max(x, 0)``.

    The orthant is a self-dual cone.

    >>> projection_non_negative(jnp.array([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """
    (x,) = as_floats(x)
    return jnp.maximum(x, 0)


@on_leaves_vector
def projection_zero(x: ArrayLike) -> Array:
    """Projection onto the zero cone ``{0}``; its dual is the free cone (see :func:`projection_free`).

    >>> projection_zero(jnp.array([1.0, -2.0])).tolist()
    [0.0, 0.0]
    """
    (x,) = as_floats(x)
    return jnp.zeros_like(x)


@on_leaves_vector
def projection_free(x: ArrayLike) -> Array:
    """Projection onto the free cone ``R^n`` (the identity); its dual is the zero cone.

    >>> projection_free(jnp.array([1.0, -2.0])).tolist()
    [1.0, -2.0]
    """
    (x,) = as_floats(x)
    return x


def projection_second_order_cone(t: ArrayLike, x: ArrayLike) -> tuple[Array, Array]:
    """Projection onto the second-order cone ``{(t, x): ||x||_2 <= t}``; returns ``(t', x')``.

    ``x`` has shape ``(..., n)`` and ``t`` shape ``(...)`` (norm over the LAST
    axis). With ``r = ||x||``: ``(t, x)`` if ``r <= t``; ``(0, 0)`` if ``r <= -t``;
    else ``((t + r)/2, (t + r)/(2 r) x)``. The cone is self-dual, so this is also
    the projection onto its dual.

    >>> tuple(v.tolist() for v in projection_second_order_cone(jnp.array(0.0), jnp.array([2.0, 0.0])))
    (1.0, [1.0, 0.0])
    """
    t, x = as_floats(t, x, point=2)
    vector_size("x", x)
    if t.shape != x.shape[:-1]:
        raise ArgumentError(f"t must have shape x.shape[:-1] = {x.shape[:-1]}, got {t.shape}")
    r = safe_norm(x)
    half = 0.5 * (t + r)
    inside = r <= t
    polar = r <= -t
    t_out = jnp.where(inside, t, jnp.where(polar, 0, half))
    x_out = jnp.where(inside[..., None], x, jnp.where(polar[..., None], 0, safe_div(half, r)[..., None] * x))
    return t_out, x_out


@jax.custom_jvp
def _psd_symmetric(S: Array) -> Array:
    w, V = jnp.linalg.eigh(S)
    return (V * jnp.maximum(w, 0)[..., None, :]) @ jnp.swapaxes(V, -1, -2)


@_psd_symmetric.defjvp
def _psd_symmetric_jvp(primals: tuple[Array], tangents: tuple[Array]) -> tuple[Array, Array]:
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
    (X,) = as_floats(X)
    if X.ndim < 2 or X.shape[-1] != X.shape[-2]:
        raise ArgumentError(f"X must be a square matrix (or a batch of them), got shape {X.shape}")
    return _psd_symmetric(0.5 * (X + jnp.swapaxes(X, -1, -2)))


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
    because the point is outside the polar and the primal cone); a missing end
    is one further out, and the bracket grows from there.
    """
    r_pos, s_pos = r > 0, s > 0
    low0 = 1 - s / jnp.where(r_pos, r, 1)
    upp0 = r / jnp.where(s_pos, s, 1)
    lo = jnp.where(r_pos, low0, upp0 - 1)
    hi = jnp.where(s_pos, upp0, low0 + 1)
    return bracketed_root(lambda rho: -_exp_root_fun(rho, r, s, t), lo, hi)


@_exp_root.defjvp
def _exp_root_jvp(primals: tuple[Array, Array, Array], tangents: tuple[Array, Array, Array]) -> tuple[Array, Array]:
    r, s, t = primals
    rho = _exp_root(r, s, t)
    _, dvalue = jax.jvp(functools.partial(_exp_root_fun, rho), primals, tangents)
    return rho, -safe_div(dvalue, _exp_root_slope(rho, r, s, t))


def _sq_dist(p: tuple[Array, ...], q: tuple[Array, ...]) -> Array:
    return sum((a - b) ** 2 for a, b in zip(p, q))


def _exp_root_point(rho: Array, r: Array, s: Array, t: Array) -> tuple[Array, Array, Array]:
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
    identity_cond = jnp.where(identity_t > 0,
                              (jnp.abs(t) + jnp.abs(correction)) / jnp.where(identity_t > 0, identity_t, 1),
                              jnp.inf)
    use_identity = (rho > 0) & (identity_cond < direct_cond)
    root_t = jnp.where(use_identity, identity_t, direct_t)
    sigma = jnp.where(use_identity, jnp.exp(-jnp.maximum(rho, 0)) * identity_t,
                      jnp.where(positive, numerator, 0) / denominator)
    return rho * sigma, sigma, root_t


def _exp_cone_point(r: Array, s: Array, t: Array) -> tuple[Array, Array, Array]:
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


#: The entrywise exponential-cone projection, compiled once per shape: its root search is a loop, which eager
#: execution would trace and compile anew at every call.
_exp_cone_points = jit(jnp.vectorize(_exp_cone_point))


def projection_exp_cone(r: ArrayLike, s: ArrayLike, t: ArrayLike) -> tuple[Array, Array, Array]:
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
    r, s, t = as_floats(r, s, t, point=3)
    if not (r.shape == s.shape == t.shape):
        raise ArgumentError(f"r, s, t must have the same shape, got {r.shape}, {s.shape}, {t.shape}")
    return _exp_cone_points(r, s, t)


def projection_exp_cone_dual(r: ArrayLike, s: ArrayLike, t: ArrayLike) -> tuple[Array, Array, Array]:
    """Projection onto the dual exponential cone ``K* = closure{(u, v, w): u < 0, -u exp(v/u) <= e w}``.

    Moreau's decomposition ``z = P_K(z) + P_{K polar}(z)`` with ``K polar = -K*`` gives
    ``P_{K*}(z) = -P_{K polar}(-z) = z + P_K(-z)``. Entrywise over same-shaped inputs.

    >>> tuple(float(v) for v in projection_exp_cone_dual(jnp.array(-1.0), jnp.array(0.0), jnp.array(1.0)))
    (-1.0, 0.0, 1.0)
    """
    r, s, t = as_floats(r, s, t, point=3)
    pr, ps, pt = projection_exp_cone(-r, -s, -t)
    return r + pr, s + ps, t + pt


#: Above this ``log(|c| / sqrt(q))`` the positive root of ``p^2 - c p = q`` is ``c`` or ``q / |c|`` to rounding.
_LOG_RATIO_ASYMPTOTIC = 40.0


def _log_positive_root(c: Array, log_q: Array) -> Array:
    """``log p`` for the positive root ``p`` of ``p^2 - c p = q``, given ``log q`` (``q`` may be far below the range).

    ``p = sqrt(q) exp(asinh(g / 2))`` with ``g = c / sqrt(q)``; where ``|g|`` is huge the asymptotic forms
    ``p = c`` (``c > 0``) and ``p = q / |c|`` (``c < 0``) avoid forming ``g``.
    """
    half = 0.5 * log_q
    nonzero = c != 0
    log_c = jnp.log(jnp.where(nonzero, jnp.abs(c), 1))
    asymptotic = nonzero & (log_c - half > _LOG_RATIO_ASYMPTOTIC)
    g = c * jnp.exp(jnp.minimum(-half, _LOG_RATIO_ASYMPTOTIC - log_c))
    return jnp.where(asymptotic, jnp.where(c > 0, log_c, log_q - log_c), half + jnp.arcsinh(0.5 * g))


def _power_root_logs(w: Array, x: Array, y: Array, zabs: Array, alpha: Array) -> tuple[Array, Array, Array]:
    """Logs of the candidate projection ``(x', y', r)`` for ``r = |z| sigmoid(w)``, ``0 < r < |z|``.

    On the boundary through ``(x', y', r)`` with normal along ``v - p``, ``x'`` is the
    positive root of ``p^2 - x p = alpha r (|z| - r)`` and ``y'`` that of
    ``p^2 - y p = (1 - alpha) r (|z| - r)`` (Hien, 2015). In logs, with ``r`` and
    ``|z| - r`` from the two sigmoids, nothing underflows where the root is extreme.
    """
    log_z = jnp.log(zabs)
    log_r, log_rest = log_z + jax.nn.log_sigmoid(w), log_z + jax.nn.log_sigmoid(-w)
    log_x = _log_positive_root(x, jnp.log(alpha) + log_r + log_rest)
    log_y = _log_positive_root(y, jnp.log1p(-alpha) + log_r + log_rest)
    return log_x, log_y, log_r


def _power_root_fun(w: Array, x: Array, y: Array, zabs: Array, alpha: Array) -> Array:
    """``log(x'^alpha y'^(1 - alpha) / r)`` at the candidate of :func:`_power_root_logs`; zero at the projection.

    In ``w`` it tends to a line or a constant at both ends, so Newton's method
    converges from a bracket even when the root is near ``r = 0`` or ``r = |z|``.
    """
    log_x, log_y, log_r = _power_root_logs(w, x, y, zabs, alpha)
    return alpha * log_x + (1 - alpha) * log_y - log_r


def _power_root_slope(w: Array, x: Array, y: Array, zabs: Array, alpha: Array) -> Array:
    """Derivative of :func:`_power_root_fun` in ``w``."""
    return jax.jvp(lambda q: _power_root_fun(q, x, y, zabs, alpha), (w,), (jnp.ones_like(w),))[1]


@jax.custom_jvp
def _power_root(x: Array, y: Array, zabs: Array, alpha: Array) -> Array:
    """Root ``w`` of :func:`_power_root_fun` for a scalar point outside the cone and its polar, ``z != 0``.

    The function is positive for ``w -> -inf`` (the point is not in the polar) and
    negative for ``w -> inf`` (not in the cone); the root is bracketed from ``[-1, 1]``.
    """
    one = jnp.ones_like(x)
    return bracketed_root(lambda w: _power_root_fun(w, x, y, zabs, alpha), -one, one)


@_power_root.defjvp
def _power_root_jvp(primals: tuple[Array, ...], tangents: tuple[Array, ...]) -> tuple[Array, Array]:
    w = _power_root(*primals)
    _, dvalue = jax.jvp(functools.partial(_power_root_fun, w), primals, tangents)
    return w, -safe_div(dvalue, _power_root_slope(w, *primals))


def _power_face_slope(x: Array, y: Array, alpha: Array) -> Array:
    """``d z' / d z`` at ``z = 0`` for ``x, y`` of opposite signs, the limit of the boundary branch.

    With ``x < 0 < y`` the projection of ``(x, y, e)`` tends to ``(0, y, t e)`` with
    ``t -> 1`` for ``alpha < 1/2``, ``t -> 0`` for ``alpha > 1/2`` and
    ``t = y / (y - 2 x)`` at ``alpha = 1/2``; ``y < 0 < x`` mirrors it.
    """
    near, far, weight = jnp.where(x < 0, x, y), jnp.where(x < 0, y, x), jnp.where(x < 0, alpha, 1 - alpha)
    return jnp.where(weight < 0.5, 1.0, jnp.where(weight > 0.5, 0.0, safe_div(far, far - 2 * near)))


def _geometric(x: Array, y: Array, alpha: Array) -> Array:
    """``x^alpha y^(1 - alpha)`` for ``x, y >= 0`` (0 on the faces), with no NaN in value or derivative."""
    positive = (x > 0) & (y > 0)
    logs = alpha * jnp.log(jnp.where(positive, x, 1)) + (1 - alpha) * jnp.log(jnp.where(positive, y, 1))
    return jnp.where(positive, jnp.exp(logs), 0)


def _power_cone_point(x: Array, y: Array, z: Array, alpha: Array) -> tuple[Array, Array, Array]:
    """Projection of one scalar point onto the power cone (see :func:`projection_power_cone`)."""
    zabs = jnp.abs(z)
    in_cone = (x >= 0) & (y >= 0) & (_geometric(x, y, alpha) >= zabs)
    polar_bound = _geometric(-x / alpha, -y / (1 - alpha), alpha)
    in_polar = (x <= 0) & (y <= 0) & (polar_bound >= zabs)
    face = ~(in_cone | in_polar) & (z == 0)
    boundary = ~(in_cone | in_polar | face)
    # Root branch, fed a harmless point where it is not selected (keeps values and tangents finite), and scaled
    # to size 1: the projection is positively homogeneous.
    xb, yb, zb = (jnp.where(boundary, v, d) for v, d in ((x, 0), (y, 0), (zabs, 1)))
    scale = lax.stop_gradient(jnp.maximum(jnp.maximum(jnp.abs(xb), jnp.abs(yb)), zb))
    xb, yb, zb = xb / scale, yb / scale, zb / scale
    w = _power_root(xb, yb, zb, alpha)
    log_x, log_y, _ = _power_root_logs(w, xb, yb, zb, alpha)
    px, py, r = scale * jnp.exp(log_x), scale * jnp.exp(log_y), scale * zb * jax.nn.sigmoid(w)
    pz = jnp.where(z < 0, -r, r)
    slope = lax.stop_gradient(_power_face_slope(x, y, alpha))
    zero = jnp.zeros_like(x)
    out_x = jnp.where(in_cone, x, jnp.where(in_polar, zero, jnp.where(face, jnp.maximum(x, 0), px)))
    out_y = jnp.where(in_cone, y, jnp.where(in_polar, zero, jnp.where(face, jnp.maximum(y, 0), py)))
    out_z = jnp.where(in_cone, z, jnp.where(in_polar, zero, jnp.where(face, slope * z, pz)))
    return out_x, out_y, out_z


#: The entrywise power-cone projection, compiled once per shape (as :data:`_exp_cone_points`).
_power_cone_points = jit(jnp.vectorize(_power_cone_point))


def _power_arguments(x: ArrayLike, y: ArrayLike, z: ArrayLike, alpha: ArrayLike) -> tuple[Array, ...]:
    """Cast and check the arguments of the power cone projections."""
    x, y, z, alpha = as_floats(x, y, z, alpha, point=3)
    if not (x.shape == y.shape == z.shape):
        raise ArgumentError(f"x, y, z must have the same shape, got {x.shape}, {y.shape}, {z.shape}")
    try:
        jnp.broadcast_shapes(x.shape, alpha.shape)
    except ValueError as exc:
        raise ArgumentError(f"alpha of shape {alpha.shape} does not broadcast to x's shape {x.shape}") from exc
    if not isinstance(alpha, jax.core.Tracer) and not bool(jnp.all((alpha > 0) & (alpha < 1))):
        raise ArgumentError(f"alpha must lie in (0, 1), got {alpha}")
    return x, y, z, alpha


def projection_power_cone(x: ArrayLike, y: ArrayLike, z: ArrayLike, alpha: ArrayLike) -> tuple[Array, Array, Array]:
    """Projection onto the power cone ``K_alpha = {(x, y, z): x^alpha y^(1 - alpha) >= |z|, x, y >= 0}``.

    ``0 < alpha < 1``; entrywise over same-shaped ``x, y, z`` (``alpha`` broadcasts
    to them); returns ``(x', y', z')``. Cases: ``v`` in ``K`` -> ``v``; ``v`` in the
    polar ``-K*`` -> ``0``; ``z = 0`` otherwise -> ``(max(x, 0), max(y, 0), 0)``;
    else the boundary point of Hien (2015), located by a scalar root found by
    bracketed Newton and differentiated implicitly (also in ``alpha``).

    >>> tuple(round(float(v), 12) for v in projection_power_cone(-1.0, 1.0, 0.0, 0.5))
    (0.0, 1.0, 0.0)
    """
    x, y, z, alpha = _power_arguments(x, y, z, alpha)
    return _power_cone_points(x, y, z, alpha)


def projection_power_cone_dual(x: ArrayLike, y: ArrayLike, z: ArrayLike,
                               alpha: ArrayLike) -> tuple[Array, Array, Array]:
    """Projection onto the dual power cone ``{(u, v, w): (u/a)^a (v/(1 - a))^(1 - a) >= |w|, u, v >= 0}``.

    ``a = alpha``. By Moreau's decomposition, ``P_{K*}(v) = v + P_K(-v)`` (as for
    :func:`projection_exp_cone_dual`). Entrywise like :func:`projection_power_cone`.

    >>> tuple(round(float(v), 6) for v in projection_power_cone_dual(1.0, 1.0, -3.0, 0.5))
    (1.333333, 1.333333, -2.666667)
    """
    x, y, z, alpha = _power_arguments(x, y, z, alpha)
    px, py, pz = projection_power_cone(-x, -y, -z, alpha)
    return x + px, y + py, z + pz
