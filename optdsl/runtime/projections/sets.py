"""Closed-form Euclidean projections onto sets: boxes, balls, simplex, sphere, hyperplanes, halfspaces, affine sets.

The box, hypercube and l-infinity ball act entrywise; the others act on the
LAST axis (leading axes are a batch). Each is a short formula that JAX
differentiates directly. Sets whose projection needs a solve (box section,
polyhedron) are in :mod:`.solver_backed`; cones in :mod:`.cones`.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from optdsl.errors import ArgumentError
from optdsl.runtime.projections._common import (Array, ArrayLike, as_floats, check_last_axis, last_axis_param,
                                                vector_size)
from optdsl.runtime.safe_math import safe_div, safe_norm


def projection_box(x: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> Array:
    """Projection onto the box ``{y: lower <= y <= upper}``: ``clip(x, lower, upper)``.

    ``lower`` and ``upper`` broadcast against ``x`` (scalars or arrays, ``lower <= upper``).

    >>> projection_box(jnp.array([-2.0, 0.5, 3.0]), 0.0, 1.0).tolist()
    [0.0, 0.5, 1.0]
    """
    x, lower, upper = as_floats(x, lower, upper)
    return jnp.minimum(jnp.maximum(x, lower), upper)


def projection_hypercube(x: ArrayLike, scale: ArrayLike = 1.0) -> Array:
    """Projection onto the hypercube ``[0, scale]^n``: ``clip(x, 0, scale)``.

    >>> projection_hypercube(jnp.array([-1.0, 0.25, 4.0]), 2.0).tolist()
    [0.0, 0.25, 2.0]
    """
    x, scale = as_floats(x, scale)
    return jnp.minimum(jnp.maximum(x, 0), scale)


def projection_linf_ball(x: ArrayLike, radius: ArrayLike = 1.0) -> Array:
    """Projection onto the l-infinity ball ``{y: max_i |y_i| <= radius}``: ``clip(x, -radius, radius)``.

    ``radius`` broadcasts against ``x``.

    >>> projection_linf_ball(jnp.array([-3.0, 0.5]), 2.0).tolist()
    [-2.0, 0.5]
    """
    x, radius = as_floats(x, radius)
    return jnp.minimum(jnp.maximum(x, -radius), radius)


def projection_simplex(x: ArrayLike, value: ArrayLike = 1.0) -> Array:
    """Projection onto the simplex ``{y: y >= 0, sum(y) = value}`` along the LAST axis.

    Exact sort-based rule on ``z = x - max(x)`` (the projection commutes with
    shifts): with ``u`` the entries of ``z`` sorted decreasingly and ``k`` the
    largest index with ``u_k > (sum_{i<=k} u_i - value) / k``, the threshold is
    ``tau = (sum_{i<=k} u_i - value) / k`` and ``y = max(z - tau, 0)``. The shift
    makes every summand non-positive, so the partial sums neither cancel nor
    absorb ``value`` however large ``x`` is: the result is exact to rounding for
    any finite input (``-inf`` entries get 0). The shift carries no derivative
    (``y`` does not depend on it), so the Jacobian is the exact
    ``diag(s) - s s^T / |s|`` on the support ``s``.
    A matrix input is projected row by row; ``value`` is a scalar or has shape
    ``x.shape[:-1]`` (one value per row), and must be nonnegative (0 gives the point 0).

    >>> projection_simplex(jnp.array([0.5, 0.5, 2.0])).tolist()
    [0.0, 0.0, 1.0]
    """
    x, value = as_floats(x, value)
    n = vector_size("x", x)
    z = x - lax.stop_gradient(jnp.max(x, axis=-1, keepdims=True))
    u = -jnp.sort(-z, axis=-1)
    excess = jnp.cumsum(u, axis=-1) - last_axis_param(value)
    counts = jnp.arange(1, n + 1, dtype=x.dtype)
    support = jnp.maximum(jnp.sum(u * counts > excess, axis=-1, keepdims=True), 1)  # at least 1: value 0 gives {0}
    tau = jnp.take_along_axis(excess, support - 1, axis=-1) / support.astype(x.dtype)
    return jnp.maximum(z - tau, 0)


def projection_l1_ball(x: ArrayLike, radius: ArrayLike = 1.0) -> Array:
    """Projection onto the l1 ball ``{y: ||y||_1 <= radius}`` along the LAST axis.

    Outside the ball it is ``sign(x) * projection_simplex(|x|, radius)``.
    ``radius`` is a scalar or has shape ``x.shape[:-1]``.

    >>> projection_l1_ball(jnp.array([2.0, -1.5]), 1.5).tolist()
    [1.0, -0.5]
    """
    x, radius = as_floats(x, radius)
    vector_size("x", x)
    inside = jnp.sum(jnp.abs(x), axis=-1, keepdims=True) <= last_axis_param(radius)
    return jnp.where(inside, x, jnp.sign(x) * projection_simplex(jnp.abs(x), radius))


def projection_l2_ball(x: ArrayLike, radius: ArrayLike = 1.0) -> Array:
    """Projection onto the l2 ball ``{y: ||y||_2 <= radius}`` along the LAST axis.

    ``y = x * min(1, radius / ||x||_2)``; ``radius`` is a scalar or has shape ``x.shape[:-1]``.

    >>> projection_l2_ball(jnp.array([0.0, 2.0]), 1.0).tolist()
    [0.0, 1.0]
    """
    x, radius = as_floats(x, radius)
    vector_size("x", x)
    norm = safe_norm(x, keepdims=True)
    radius = last_axis_param(radius)
    return jnp.where(norm <= radius, x, x * safe_div(radius, norm))


def projection_l2_sphere(x: ArrayLike, radius: ArrayLike = 1.0) -> Array:
    """Projection onto the (non-convex) sphere ``{y: ||y||_2 = radius}`` along the LAST axis.

    ``y = radius * x / ||x||_2``; at ``x = 0`` every point is nearest and the
    first basis vector times ``radius`` is returned.

    >>> projection_l2_sphere(jnp.array([0.0, 2.0]), 3.0).tolist()
    [0.0, 3.0]
    """
    x, radius = as_floats(x, radius)
    n = vector_size("x", x)
    norm = safe_norm(x, keepdims=True)
    e1 = jnp.zeros((n,), x.dtype).at[0].set(1)
    direction = jnp.where(norm > 0, x / jnp.where(norm > 0, norm, 1), e1)
    return last_axis_param(radius) * direction


def projection_hyperplane(x: ArrayLike, a: ArrayLike, b: ArrayLike) -> Array:
    """Projection onto the hyperplane ``{y: a . y = b}`` along the LAST axis.

    ``y = x - (a . x - b) / ||a||^2 * a``, with ``a`` of shape ``(n,)`` (or batched
    like ``x``) and ``b`` a scalar (or of shape ``x.shape[:-1]``). With ``a = 0``
    the set is everything (``b = 0``) or empty, and ``x`` is returned.

    >>> projection_hyperplane(jnp.array([1.0, 1.0]), jnp.array([1.0, 0.0]), 3.0).tolist()
    [3.0, 1.0]
    """
    x, a, b = as_floats(x, a, b)
    check_last_axis("a", a, vector_size("x", x))
    gap = jnp.sum(a * x, axis=-1, keepdims=True) - last_axis_param(b)
    return x - safe_div(gap, jnp.sum(a * a, axis=-1, keepdims=True)) * a


def projection_halfspace(x: ArrayLike, a: ArrayLike, b: ArrayLike) -> Array:
    """Projection onto the halfspace ``{y: a . y <= b}`` along the LAST axis.

    ``y = x - max(a . x - b, 0) / ||a||^2 * a`` (shapes as in
    :func:`projection_hyperplane`; ``a = 0`` returns ``x``).

    >>> projection_halfspace(jnp.array([1.0, 1.0]), jnp.array([1.0, 0.0]), 3.0).tolist()
    [1.0, 1.0]
    """
    x, a, b = as_floats(x, a, b)
    check_last_axis("a", a, vector_size("x", x))
    gap = jnp.maximum(jnp.sum(a * x, axis=-1, keepdims=True) - last_axis_param(b), 0)
    return x - safe_div(gap, jnp.sum(a * a, axis=-1, keepdims=True)) * a


def projection_affine_set(x: ArrayLike, A: ArrayLike, b: ArrayLike) -> Array:
    """Projection onto the affine set ``{y: A y = b}`` along the LAST axis.

    ``A`` has shape ``(m, n)``, any rank (duplicated rows and ``m > n`` included);
    ``b`` has shape ``(m,)`` or ``x.shape[:-1] + (m,)``. The projection is
    ``y = x - A^+ (A x - b)`` with the pseudo-inverse ``A^+``: exact whenever the
    system is consistent, and the nearest point of the least-squares solutions
    ``argmin ||A y - b||`` when it is not (then ``A y != b`` shows the set is empty).

    >>> projection_affine_set(jnp.array([0.0, 0.0]), jnp.array([[1.0, 1.0]]), jnp.array([2.0])).round(12).tolist()
    [1.0, 1.0]
    """
    x, A, b = as_floats(x, A, b)
    n = vector_size("x", x)
    if A.ndim != 2 or A.shape[1] != n:
        raise ArgumentError(f"A must have shape (m, {n}) to match x of shape {x.shape}, got {A.shape}")
    check_last_axis("b", b, A.shape[0], what="the rows of A")
    return x - (x @ A.T - b) @ jnp.linalg.pinv(A).T
