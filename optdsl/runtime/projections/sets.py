"""Closed-form Euclidean projections onto sets: boxes, balls, simplex, sphere, hyperplanes, halfspaces, affine sets.

The box, hypercube and l-infinity ball act entrywise; the others act on the
LAST axis (leading axes are a batch). Parameters that make the set empty
(crossed bounds, a negative radius or sum, ``a = 0`` with an unreachable ``b``,
an inconsistent ``A y = b``) raise :class:`EmptySetError` (a ``ValueError``)
when they are concrete; traced, each function returns the finite point its
docstring states. Each is a short formula that JAX
differentiates directly. Sets whose projection needs a solve (box section,
polyhedron) are in :mod:`.solver_backed`; cones in :mod:`.cones`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from optdsl.errors import ArgumentError
from optdsl.runtime.projections._common import (Array, ArrayLike, as_floats, check_last_axis, check_nonempty,
                                                last_axis_param, vector_size)
from optdsl.runtime.safe_math import safe_div, safe_norm
from optdsl.runtime.tree import on_leaves_vector


def _check_radius(name: str, radius: Array) -> None:
    check_nonempty(lambda: radius < 0, f"{name}: radius < 0 (shape {radius.shape}), so the set is empty", radius)


@on_leaves_vector
def projection_box(x: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> Array:
    """Projection onto the box ``{y: lower <= y <= upper}``: ``clip(x, lower, upper)``.

    ``lower`` and ``upper`` broadcast against ``x`` (scalars or arrays, ``lower <= upper``).
    Where ``lower > upper`` the box is empty; traced, those entries come back as ``upper``.

    >>> projection_box(jnp.array([-2.0, 0.5, 3.0]), 0.0, 1.0).tolist()
    [0.0, 0.5, 1.0]
    """
    x, lower, upper = as_floats(x, lower, upper)
    check_nonempty(lambda: lower > upper, f"projection_box: lower > upper somewhere (lower shape {lower.shape}, "
                   f"upper shape {upper.shape}), so the box is empty", lower, upper)
    return jnp.minimum(jnp.maximum(x, lower), upper)


@on_leaves_vector
def projection_hypercube(x: ArrayLike, scale: ArrayLike = 1.0) -> Array:
    """Projection onto the hypercube ``[0, scale]^n``: ``clip(x, 0, scale)``.

    ``scale < 0`` is an empty set; traced, every entry comes back as ``scale``.

    >>> projection_hypercube(jnp.array([-1.0, 0.25, 4.0]), 2.0).tolist()
    [0.0, 0.25, 2.0]
    """
    x, scale = as_floats(x, scale)
    check_nonempty(lambda: scale < 0, f"projection_hypercube: scale < 0 (shape {scale.shape}), so the set is empty",
                   scale)
    return jnp.minimum(jnp.maximum(x, 0), scale)


@on_leaves_vector
def projection_linf_ball(x: ArrayLike, radius: ArrayLike = 1.0) -> Array:
    """Projection onto the l-infinity ball ``{y: max_i |y_i| <= radius}``: ``clip(x, -radius, radius)``.

    ``radius`` broadcasts against ``x``; a negative radius is an empty set, and
    traced, those entries come back as ``radius``.

    >>> projection_linf_ball(jnp.array([-3.0, 0.5]), 2.0).tolist()
    [-2.0, 0.5]
    """
    x, radius = as_floats(x, radius)
    check_nonempty(lambda: radius < 0, f"projection_linf_ball: radius < 0 (shape {radius.shape}), so the ball is "
                   "empty", radius)
    return jnp.minimum(jnp.maximum(x, -radius), radius)


@on_leaves_vector
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
    ``x.shape[:-1]`` (one value per row), and must be nonnegative (0 gives the
    point 0); a negative value is an empty set, and traced gives 0 as well.

    >>> projection_simplex(jnp.array([0.5, 0.5, 2.0])).tolist()
    [0.0, 0.0, 1.0]
    """
    x, value = as_floats(x, value)
    vector_size("x", x)
    check_nonempty(lambda: value < 0, f"projection_simplex: value < 0 (shape {value.shape}), so the simplex is empty",
                   value)
    z = x - lax.stop_gradient(jnp.max(x, axis=-1, keepdims=True))
    return jnp.maximum(z - simplex_threshold(z, value), 0)


def simplex_threshold(x: Array, value: Array) -> Array:
    """The threshold ``tau`` (shape ``x.shape[:-1] + (1,)``) with ``max(x - tau, 0)`` on the simplex of sum ``value``.

    The sort-based rule of :func:`projection_simplex`, on ``x`` as given (no
    shift, no checks): exact when ``max(x) = 0``, as there.
    """
    u = -jnp.sort(-x, axis=-1)
    excess = jnp.cumsum(u, axis=-1) - last_axis_param(value)
    counts = jnp.arange(1, x.shape[-1] + 1, dtype=x.dtype)
    support = jnp.maximum(jnp.sum(u * counts > excess, axis=-1, keepdims=True), 1)  # at least 1: value 0 gives {0}
    return jnp.take_along_axis(excess, support - 1, axis=-1) / support.astype(x.dtype)


@on_leaves_vector
def projection_l1_ball(x: ArrayLike, radius: ArrayLike = 1.0) -> Array:
    """Projection onto the l1 ball ``{y: ||y||_1 <= radius}`` along the LAST axis.

    Outside the ball it is ``sign(x) * projection_simplex(|x|, radius)``.
    ``radius`` is a scalar or has shape ``x.shape[:-1]``; a negative radius is
    an empty set, and traced gives 0.

    >>> projection_l1_ball(jnp.array([2.0, -1.5]), 1.5).tolist()
    [1.0, -0.5]
    """
    x, radius = as_floats(x, radius)
    vector_size("x", x)
    _check_radius("projection_l1_ball", radius)
    inside = jnp.sum(jnp.abs(x), axis=-1, keepdims=True) <= last_axis_param(radius)
    return jnp.where(inside, x, jnp.sign(x) * projection_simplex(jnp.abs(x), radius))


@on_leaves_vector
def projection_l1_sphere(x: ArrayLike, radius: ArrayLike = 1.0) -> Array:
    """Projection onto the (non-convex) l1 sphere ``{y: ||y||_1 = radius}`` along the LAST axis.

    ``y = s * projection_simplex(|x|, radius)`` with ``s`` the signs of ``x``
    (``+1`` at zero entries, so ``x = 0`` maps to ``radius / n`` everywhere, a
    nearest point). ``radius`` is a scalar or has shape ``x.shape[:-1]``; a
    negative radius is an empty set, and traced gives 0.

    >>> projection_l1_sphere(jnp.array([0.5, -0.25]), 3.0).tolist()
    [1.625, -1.375]
    """
    x, radius = as_floats(x, radius)
    vector_size("x", x)
    _check_radius("projection_l1_sphere", radius)
    return jnp.where(x >= 0, 1, -1).astype(x.dtype) * projection_simplex(jnp.abs(x), radius)


@on_leaves_vector
def projection_sparse_simplex(x: ArrayLike, max_nz: int, value: ArrayLike = 1.0, *,
                              use_approx_max_nz: bool = False) -> Array:
    """Projection onto the simplex with at most ``max_nz`` nonzeros, along the LAST axis.

    ``{y: y >= 0, sum(y) = value, ||y||_0 <= max_nz}`` is not convex, but its
    projection is exact: keep the ``max_nz`` largest entries, project them onto
    the simplex, zero the rest (Kyrillidis et al., 2013). ``max_nz`` is a static
    integer in ``1..n``; ``use_approx_max_nz`` selects the largest entries with
    ``lax.approx_max_k`` (faster on TPU, exact on CPU and GPU). Differentiated
    by autodiff of the selection and of :func:`projection_simplex`.

    >>> projection_sparse_simplex(jnp.array([0.5, 0.25, 0.75]), 2).tolist()
    [0.375, 0.0, 0.625]
    """
    x, value = as_floats(x, value)
    n = vector_size("x", x)
    if isinstance(max_nz, bool) or not isinstance(max_nz, int) or not 1 <= max_nz <= n:
        raise ArgumentError(f"max_nz must be an integer in 1..{n} (the last axis of x), got {max_nz!r}")
    top, index = (lax.approx_max_k if use_approx_max_nz else lax.top_k)(x, max_nz)
    projected = projection_simplex(top, value)
    return jnp.einsum("...k,...kn->...n", projected, jax.nn.one_hot(index, n, dtype=x.dtype))


@on_leaves_vector
def projection_l2_ball(x: ArrayLike, radius: ArrayLike = 1.0) -> Array:
    """Projection onto the l2 ball ``{y: ||y||_2 <= radius}`` along the LAST axis.

    ``y = x * min(1, radius / ||x||_2)``; ``radius`` is a scalar or has shape
    ``x.shape[:-1]``. A negative radius is an empty set, and traced gives 0.

    >>> projection_l2_ball(jnp.array([0.0, 2.0]), 1.0).tolist()
    [0.0, 1.0]
    """
    x, radius = as_floats(x, radius)
    vector_size("x", x)
    _check_radius("projection_l2_ball", radius)
    norm = safe_norm(x, keepdims=True)
    radius = last_axis_param(jnp.maximum(radius, 0))
    return jnp.where(norm <= radius, x, x * safe_div(radius, norm))


@on_leaves_vector
def projection_l2_sphere(x: ArrayLike, radius: ArrayLike = 1.0) -> Array:
    """Projection onto the (non-convex) sphere ``{y: ||y||_2 = radius}`` along the LAST axis.

    ``y = radius * x / ||x||_2``; at ``x = 0`` every point is nearest and the
    first basis vector times ``radius`` is returned. A negative radius is an
    empty set, and traced gives 0.

    >>> projection_l2_sphere(jnp.array([0.0, 2.0]), 3.0).tolist()
    [0.0, 3.0]
    """
    x, radius = as_floats(x, radius)
    n = vector_size("x", x)
    _check_radius("projection_l2_sphere", radius)
    norm = safe_norm(x, keepdims=True)
    e1 = jnp.zeros((n,), x.dtype).at[0].set(1)
    direction = jnp.where(norm > 0, x / jnp.where(norm > 0, norm, 1), e1)
    return last_axis_param(jnp.maximum(radius, 0)) * direction


@on_leaves_vector
def projection_hyperplane(x: ArrayLike, a: ArrayLike, b: ArrayLike) -> Array:
    """Projection onto the hyperplane ``{y: a . y = b}`` along the LAST axis.

    ``y = x - (a . x - b) / ||a||^2 * a``, with ``a`` of shape ``(n,)`` (or batched
    like ``x``) and ``b`` a scalar (or of shape ``x.shape[:-1]``). With ``a = 0``
    the set is everything (``b = 0``) or empty (traced, ``x`` is returned).

    >>> projection_hyperplane(jnp.array([1.0, 1.0]), jnp.array([1.0, 0.0]), 3.0).tolist()
    [3.0, 1.0]
    """
    x, a, b = as_floats(x, a, b)
    check_last_axis("a", a, vector_size("x", x))
    check_nonempty(lambda: jnp.all(a == 0, axis=-1) & (b != 0),
                   "projection_hyperplane: a = 0 with b != 0, so the hyperplane is empty", a, b)
    gap = jnp.sum(a * x, axis=-1, keepdims=True) - last_axis_param(b)
    return x - safe_div(gap, jnp.sum(a * a, axis=-1, keepdims=True)) * a


@on_leaves_vector
def projection_halfspace(x: ArrayLike, a: ArrayLike, b: ArrayLike) -> Array:
    """Projection onto the halfspace ``{y: a . y <= b}`` along the LAST axis.

    ``y = x - max(a . x - b, 0) / ||a||^2 * a`` (shapes as in
    :func:`projection_hyperplane`; ``a = 0`` returns ``x``, and with ``b < 0``
    the set is empty).

    >>> projection_halfspace(jnp.array([1.0, 1.0]), jnp.array([1.0, 0.0]), 3.0).tolist()
    [1.0, 1.0]
    """
    x, a, b = as_floats(x, a, b)
    check_last_axis("a", a, vector_size("x", x))
    check_nonempty(lambda: jnp.all(a == 0, axis=-1) & (b < 0),
                   "projection_halfspace: a = 0 with b < 0, so the halfspace is empty", a, b)
    gap = jnp.maximum(jnp.sum(a * x, axis=-1, keepdims=True) - last_axis_param(b), 0)
    return x - safe_div(gap, jnp.sum(a * a, axis=-1, keepdims=True)) * a


def projection_affine_set(x: ArrayLike, A: ArrayLike, b: ArrayLike) -> Array:
    """Projection onto the affine set ``{y: A y = b}`` along the LAST axis.

    ``A`` has shape ``(m, n)``, any rank (duplicated rows and ``m > n`` included);
    ``b`` has shape ``(m,)`` or ``x.shape[:-1] + (m,)``. The projection is
    ``y = x - A^+ (A x - b)`` with the pseudo-inverse ``A^+``: exact whenever the
    system is consistent, and the nearest point of the least-squares solutions
    ``argmin ||A y - b||`` when it is not (the set is empty: an error for
    concrete inputs; traced, that point is returned).

    >>> projection_affine_set(jnp.array([0.0, 0.0]), jnp.array([[1.0, 1.0]]), jnp.array([2.0])).round(12).tolist()
    [1.0, 1.0]
    """
    x, A, b = as_floats(x, A, b)
    n = vector_size("x", x)
    if A.ndim != 2 or A.shape[1] != n:
        raise ArgumentError(f"A must have shape (m, {n}) to match x of shape {x.shape}, got {A.shape}")
    check_last_axis("b", b, A.shape[0], what="the rows of A")
    pinv = jnp.linalg.pinv(A)

    def inconsistent():
        y = b @ pinv.T
        return jnp.abs(y @ A.T - b) > jnp.finfo(A.dtype).eps ** 0.5 * (jnp.abs(b) + jnp.abs(y) @ jnp.abs(A).T + 1)

    check_nonempty(inconsistent, f"projection_affine_set: A y = b has no solution (A shape {A.shape}), so the "
                   "affine set is empty", A, b)
    return x - (x @ A.T - b) @ pinv.T
