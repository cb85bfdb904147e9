"""Projections that need a solve: the box section (a scalar dual root) and the polyhedron (a QP).

The box section ``{alpha <= y <= beta, w . y = c}`` reduces to one scalar
equation in its multiplier, solved by bisection; the polyhedron
``{A y = b, G y <= h}`` is the QP ``min 1/2 ||y - x||^2`` over it, solved by the
project's QP interior point :func:`optdsl.runtime.solvers.solve_qp`.
Both act on the LAST axis and are differentiated by the implicit function
theorem on their optimality conditions, never through the iterations.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from optdsl.errors import ArgumentError
from optdsl.runtime import solvers
from optdsl.runtime.projections._common import Array, ArrayLike, as_floats, check_last_axis, vector_size
from optdsl.runtime.safe_math import safe_div


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
    exact = safe_div(jnp.dot(w_free, x) + jnp.dot(w, clipped) - c, jnp.dot(w_free, w_free))
    polish = (jnp.dot(w_free, w_free) > 0) & (exact >= lo) & (exact <= hi)
    return jnp.where(polish, exact, nu)


@jax.custom_jvp
def _box_section(x: Array, alpha: Array, beta: Array, w: Array, c: Array) -> Array:
    nu = _box_section_dual(x, alpha, beta, w, c)
    return jnp.clip(x - nu * w, alpha, beta)


@_box_section.defjvp
def _box_section_jvp(primals: tuple[Array, ...], tangents: tuple[Array, ...]) -> tuple[Array, Array]:
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
    dnu = safe_div(jnp.dot(w, free_part + bound_part) + jnp.dot(dw, y) - dc, jnp.dot(w_free, w_free))
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
    x, alpha, beta, w, c = as_floats(x, alpha, beta, w, c)
    n = vector_size("x", x)
    for name, arr in (("alpha", alpha), ("beta", beta), ("w", w)):
        if arr.ndim > 0 and arr.shape[-1] not in (1, n):
            raise ArgumentError(f"{name} must broadcast against x of shape {x.shape}, got shape {arr.shape}")
    return jnp.vectorize(_box_section, signature="(n),(n),(n),(n),()->(n)")(
        x, jnp.broadcast_to(alpha, jnp.broadcast_shapes(alpha.shape, (n,))),
        jnp.broadcast_to(beta, jnp.broadcast_shapes(beta.shape, (n,))),
        jnp.broadcast_to(w, jnp.broadcast_shapes(w.shape, (n,))), c)


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


def _polyhedron(x: Array, A: Array, b: Array, G: Array, h: Array) -> Array:
    """Projection of one vector: the QP solved by ``solve_qp``, then an exact solve on the active set it identifies.

    The interior point stops at its tolerance and converges slowly on degenerate
    instances (a constraint active with a zero multiplier); one solve of the KKT
    system with the active inequalities (``lam > h - G y``) as equalities gives
    about machine precision. It is kept if it is feasible with non-negative
    multipliers, and then differentiated through that solve (the implicit
    function theorem on the active-set KKT conditions); otherwise the QP point
    and its implicit derivatives are returned.
    """
    n, p = x.shape[0], A.shape[0]
    point, _ = solvers.solve_qp(jnp.eye(n, dtype=x.dtype), -x, A, b, G, h)
    y, lam = lax.stop_gradient((point.x, point.lam))
    active = lam > h - G @ y
    kkt = _active_kkt(A, G, active)
    rhs = jnp.concatenate([x, b, jnp.where(active, h, 0)])
    sol = jnp.linalg.solve(lax.stop_gradient(kkt), lax.stop_gradient(rhs))
    tol = jnp.finfo(x.dtype).eps ** 0.5 * (1 + jnp.max(jnp.abs(x)))
    accept = jnp.all(jnp.isfinite(sol)) & jnp.all(G @ sol[:n] - h <= tol) & jnp.all(sol[n + p:] >= -tol)
    # Solved again to carry derivatives, with the identity where rejected so that reverse mode stays finite.
    polished = jnp.linalg.solve(jnp.where(accept, kkt, jnp.eye(kkt.shape[0], dtype=kkt.dtype)), rhs)[:n]
    return jnp.where(accept, polished, point.x)


def projection_polyhedron(x: ArrayLike, A: ArrayLike, b: ArrayLike, G: ArrayLike, h: ArrayLike) -> Array:
    """Projection onto the polyhedron ``{y: A y = b, G y <= h}`` along the LAST axis.

    Solves ``min 1/2 ||y - x||^2`` over the set with the project's dense QP
    interior point (:func:`optdsl.runtime.solvers.solve_qp`), polished by an
    exact solve on the identified active set (about machine precision in
    float64 on small instances). Differentiated implicitly through the KKT
    conditions with the active inequalities as equalities, which assumes they
    and ``A`` are linearly independent and strict complementarity; where the
    polish is rejected, by the QP solver's own implicit rule. ``A``: ``(p, n)``,
    ``b``: ``(p,)``, ``G``: ``(m, n)``, ``h``: ``(m,)``; ``p`` or ``m`` may be 0.
    The set must be non-empty.

    >>> G, no_rows = jnp.array([[1.0, 0.0]]), jnp.zeros((0, 2))
    >>> projection_polyhedron(jnp.array([2.0, 0.0]), no_rows, jnp.zeros(0), G, jnp.array([1.0])).round(9).tolist()
    [1.0, 0.0]
    """
    x, A, b, G, h = as_floats(x, A, b, G, h)
    n = vector_size("x", x)
    if A.ndim < 2 or A.shape[-1] != n:
        raise ArgumentError(f"A must have shape (p, {n}) to match x of shape {x.shape}, got {A.shape}")
    if G.ndim < 2 or G.shape[-1] != n:
        raise ArgumentError(f"G must have shape (m, {n}) to match x of shape {x.shape}, got {G.shape}")
    check_last_axis("b", b, A.shape[-2], what="the rows of A")
    check_last_axis("h", h, G.shape[-2], what="the rows of G")
    return jnp.vectorize(_polyhedron, signature="(n),(p,n),(p),(m,n),(m)->(n)")(x, A, b, G, h)
