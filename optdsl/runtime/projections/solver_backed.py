"""Projections that need a solve: the box section (a scalar dual root) and the polyhedron (a QP).

The box section ``{alpha <= y <= beta, w . y = c}`` reduces to one scalar
equation in its multiplier, solved by bisection; the polyhedron
``{A y = b, G y <= h}`` is the QP ``min 1/2 ||y - x||^2`` over it, solved by the
project's QP interior point :func:`optdsl.runtime.solvers.solve_qp`.
Both act on the LAST axis and are differentiated by the implicit function
theorem on their optimality conditions, never through the iterations. An empty
set raises :class:`EmptySetError` (a ``ValueError``) for concrete inputs;
traced, the docstrings say which finite point comes back.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from optdsl.errors import ArgumentError
from optdsl.runtime import solvers, status
from optdsl.runtime.compilation_cache import jit
from optdsl.runtime.projections._common import (Array, ArrayLike, as_floats, check_last_axis, check_nonempty,
                                                vector_size)
from optdsl.runtime.projections.sets import simplex_threshold
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


#: Compiled once per shape: called eagerly, the bisection loop would be traced and compiled at each call.
_box_sections = jit(jnp.vectorize(_box_section, signature="(n),(n),(n),(n),()->(n)"))


def projection_box_section(x: ArrayLike, alpha: ArrayLike, beta: ArrayLike, w: ArrayLike, c: ArrayLike) -> Array:
    """Projection onto the box section ``{y: alpha <= y <= beta, w . y = c}`` along the LAST axis.

    ``y = clip(x - nu w, alpha, beta)`` where the scalar dual ``nu`` solves
    ``w . clip(x - nu w, alpha, beta) = c``; it is found by bisection in a
    ``lax.while_loop`` and polished exactly, and differentiated by the implicit
    function theorem on that 1-D equation (not through the bisection).
    ``alpha``, ``beta``, ``w`` broadcast against ``x``; ``c`` is a scalar or has
    shape ``x.shape[:-1]``. The set is empty when ``alpha > beta`` somewhere or
    ``c`` is outside ``[sum min(w alpha, w beta), sum max(w alpha, w beta)]``;
    traced, the result is then still finite: ``clip(x - nu w, alpha, beta)``
    (``beta`` where the bounds cross) with ``nu`` at the end of the bisection
    bracket, the box point whose ``w . y`` is nearest ``c``.

    >>> projection_box_section(jnp.array([1.0, 1.0]), 0.0, 1.0, jnp.array([1.0, 1.0]), 1.0).tolist()
    [0.5, 0.5]
    """
    x, alpha, beta, w, c = as_floats(x, alpha, beta, w, c)
    n = vector_size("x", x)
    for name, arr in (("alpha", alpha), ("beta", beta), ("w", w)):
        if arr.ndim > 0 and arr.shape[-1] not in (1, n):
            raise ArgumentError(f"{name} must broadcast against x of shape {x.shape}, got shape {arr.shape}")

    def empty():
        low, high = jnp.minimum(w * alpha, w * beta), jnp.maximum(w * alpha, w * beta)
        low, high = jnp.sum(jnp.broadcast_to(low, x.shape), -1), jnp.sum(jnp.broadcast_to(high, x.shape), -1)
        slack = n * jnp.finfo(x.dtype).eps * (jnp.abs(low) + jnp.abs(high) + jnp.abs(c))
        return jnp.any(alpha > beta) | jnp.any(c < low - slack) | jnp.any(c > high + slack)

    check_nonempty(empty, "projection_box_section: the set {alpha <= y <= beta, w . y = c} is empty (alpha > beta "
                   "somewhere, or c outside the range of w . y over the box)", alpha, beta, w, c)
    return _box_sections(
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


def _polyhedron(x: Array, A: Array, b: Array, G: Array, h: Array) -> tuple[Array, Array]:
    """Projection of one vector: the QP solved by ``solve_qp``, then an exact solve on the active set it identifies.

    The interior point stops at its tolerance and converges slowly on degenerate
    instances (a constraint active with a zero multiplier); one solve of the KKT
    system with the active inequalities (``lam > h - G y``) as equalities gives
    about machine precision. It is kept if it is feasible with non-negative
    multipliers, and then differentiated through that solve (the implicit
    function theorem on the active-set KKT conditions); otherwise the QP point
    and its implicit derivatives are returned. Also returns whether the QP
    solver found the set empty.
    """
    n, p = x.shape[0], A.shape[0]
    point, info = solvers.solve_qp(jnp.eye(n, dtype=x.dtype), -x, A, b, G, h)
    y, lam = lax.stop_gradient((point.x, point.lam))
    active = lam > h - G @ y
    kkt = _active_kkt(A, G, active)
    rhs = jnp.concatenate([x, b, jnp.where(active, h, 0)])
    sol = jnp.linalg.solve(lax.stop_gradient(kkt), lax.stop_gradient(rhs))
    tol = jnp.finfo(x.dtype).eps ** 0.5 * (1 + jnp.max(jnp.abs(x)))
    accept = jnp.all(jnp.isfinite(sol)) & jnp.all(G @ sol[:n] - h <= tol) & jnp.all(sol[n + p:] >= -tol)
    # Solved again to carry derivatives, with the identity where rejected so that reverse mode stays finite.
    polished = jnp.linalg.solve(jnp.where(accept, kkt, jnp.eye(kkt.shape[0], dtype=kkt.dtype)), rhs)[:n]
    empty = info.status == status.INFEASIBLE
    return jnp.where(empty, x, jnp.where(accept, polished, point.x)), empty


#: Batched over leading axes and compiled once per shape: called eagerly, the interior point would run op by op.
_polyhedra = jit(jnp.vectorize(_polyhedron, signature="(n),(p,n),(p),(m,n),(m)->(n),()"))


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
    When the QP solver finds the set empty, concrete inputs raise
    :class:`EmptySetError`; traced, ``x`` itself is returned for that vector.

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
    y, empty = _polyhedra(x, A, b, G, h)
    check_nonempty(lambda: empty, f"projection_polyhedron: the polyhedron {{A y = b, G y <= h}} is empty "
                   f"(A shape {A.shape}, G shape {G.shape})", x, A, b, G, h)
    return y


def _exact_line_search(pre: Array, rate: Array, slope: Array) -> Array:
    """Maximiser ``t >= 0`` of a concave piecewise quadratic ``phi`` along a Newton direction.

    ``phi'(t) = c - sum rate * relu(pre + t rate)`` with ``slope = phi'(0) > 0``;
    ``phi'`` is piecewise linear and non-increasing, with kinks where an entry
    switches on or off (``t = -pre / rate``). They are sorted, ``phi'`` is
    accumulated across them, and its zero is found on the piece where it
    changes sign. Returns 0 if there is none (``phi`` unbounded along the
    direction, which only rounding of unbalanced marginals can cause), which
    stops the caller's iteration.
    """
    pre, rate = pre.ravel(), rate.ravel()
    kink = -pre / jnp.where(rate == 0, 1, rate)
    ahead = (rate != 0) & (kink > 0)
    kink = jnp.where(ahead, kink, jnp.inf)
    # Slope of phi' changes by -rate^2 where an entry switches on (rate > 0) and +rate^2 where it switches off.
    change = jnp.where(ahead, -jnp.sign(rate) * rate * rate, 0)
    active = (pre > 0) | ((pre == 0) & (rate > 0))
    order = jnp.argsort(kink)
    knots = jnp.concatenate([jnp.zeros(1, pre.dtype), kink[order]])
    slopes = -jnp.sum(jnp.where(active, rate * rate, 0)) + jnp.concatenate([jnp.zeros(1, pre.dtype),
                                                                            jnp.cumsum(change[order])])
    widths = jnp.diff(knots)
    # phi' at each knot; an infinite last width makes it -inf there, which closes the search.
    rises = jnp.where(widths > 0, slopes[:-1] * widths, 0)
    at_knots = slope + jnp.concatenate([jnp.zeros(1, pre.dtype), jnp.cumsum(rises)])
    piece = jnp.argmax(at_knots <= 0) - 1
    piece = jnp.where(jnp.any(at_knots <= 0), piece, knots.shape[0] - 1)
    start, value, rate_here = knots[piece], at_knots[piece], slopes[piece]
    t = start + jnp.where(rate_here < 0, value / jnp.where(rate_here < 0, -rate_here, 1), 0)
    return jnp.where(jnp.isfinite(t), jnp.maximum(t, 0), 0)


def _transport_dual(x: Array, a: Array, b: Array, max_iter: int) -> tuple[Array, Array]:
    """Potentials ``(f, g)`` maximising the dual of the Euclidean transport projection, by Newton steps.

    The dual ``<f, a> + <g, b> - 1/2 ||relu(x + f 1' + 1 g')||^2`` is concave and
    piecewise quadratic; its generalised Hessian is the bipartite Laplacian-like
    matrix of the support ``M``: ``[[diag(M 1), M], [M', diag(M' 1)]]``. Newton
    directions (diagonal floored at 1 for empty rows and columns, the gauge
    ``(1, -1)`` removed by a rank-one term, a small damping for supports that
    split into blocks) with an exact line search, each after one sweep of
    exact block ascent, end on the exact solution once the support is
    identified. Starts from the full-support solution.
    """
    n, m = x.shape
    dtype = x.dtype
    eps = jnp.finfo(dtype).eps
    gauge = jnp.concatenate([jnp.ones(n, dtype), -jnp.ones(m, dtype)])
    marginals = jnp.concatenate([a, b])
    tol = eps * (jnp.max(jnp.abs(x)) + jnp.max(marginals))

    def gradient(z):
        plan = jnp.maximum(x + z[:n, None] + z[None, n:], 0)
        return marginals - jnp.concatenate([plan.sum(1), plan.sum(0)]), (plan > 0).astype(dtype)

    def unfinished(state):
        _, grad, _, moved, it = state
        return (jnp.max(jnp.abs(grad)) > tol) & moved & (it < max_iter)

    def newton(state):
        z, *_, it = state
        # A sweep of exact block ascent first (each row, then each column, a simplex projection) moves far when
        # the support is far from right; the Newton step then finishes exactly once it is right.
        top = jnp.max(x, axis=1, keepdims=True)
        f = -(top + simplex_threshold(x - top + z[None, n:], a))[:, 0]
        left = jnp.max(x, axis=0, keepdims=True).T
        g = -(left + simplex_threshold(x.T - left + f[None, :], b))[:, 0]
        z = jnp.concatenate([f, g])
        grad, support = gradient(z)
        hess = jnp.block([[jnp.diag(jnp.maximum(support.sum(1), 1)), support],
                          [support.T, jnp.diag(jnp.maximum(support.sum(0), 1))]])
        regular = hess + jnp.outer(gauge, gauge) / (n + m) + jnp.sqrt(eps) * jnp.eye(n + m, dtype=dtype)
        step = jnp.linalg.solve(regular, grad)
        t = _exact_line_search(x + z[:n, None] + z[None, n:], step[:n, None] + step[None, n:], jnp.dot(grad, step))
        new = z + t * step
        moved = jnp.any(new != z)
        grad, support = gradient(new)
        return new, grad, support, moved, it + 1

    f0 = (a - x.sum(1)) / m
    g0 = (b - x.sum(0)) / n - (jnp.sum(b) - jnp.sum(x)) / (n * m)
    z = jnp.concatenate([f0, g0])
    z, *_ = lax.while_loop(unfinished, newton, (z, *gradient(z), jnp.asarray(True), jnp.zeros((), jnp.int32)))
    return z[:n], z[n:]


@functools.partial(jax.custom_jvp, nondiff_argnums=(3,))
def _transport(x: Array, a: Array, b: Array, max_iter: int) -> Array:
    f, g = _transport_dual(x, a, b, max_iter)
    return jnp.maximum(x + f[:, None] + g[None, :], 0)


@_transport.defjvp
def _transport_jvp(max_iter: int, primals: tuple[Array, ...], tangents: tuple[Array, ...]) -> tuple[Array, Array]:
    x, a, b = primals
    dx, da, db = tangents
    plan = _transport(x, a, b, max_iter)
    support = (plan > 0).astype(x.dtype)
    # dP = M * (dx + df 1' + 1 dg') with dP 1 = da, dP' 1 = db: the support's Laplacian-like system in (df, dg),
    # singular along the gauge (and per connected block), solved in the least-squares sense.
    hess = jnp.block([[jnp.diag(support.sum(1)), support], [support.T, jnp.diag(support.sum(0))]])
    moved = support * dx
    rhs = jnp.concatenate([da - moved.sum(1), db - moved.sum(0)])
    dz = jnp.linalg.pinv(hess, hermitian=True) @ rhs
    n = x.shape[0]
    return plan, moved + support * (dz[:n, None] + dz[None, n:])


#: Compiled once per shape: called eagerly, the Newton loop would run op by op.
_transports = jit(_transport, static_argnums=3)


def projection_transport(x: ArrayLike, a: ArrayLike, b: ArrayLike, max_iter: int = 100) -> Array:
    """Euclidean projection of a matrix onto the transport polytope ``{P >= 0, P 1 = a, P' 1 = b}``.

    ``P = max(x + f 1' + 1 g', 0)`` with dual potentials ``f, g`` found by a
    damped Newton method on the (concave, piecewise quadratic) dual in a
    ``lax.while_loop``; it is exact to rounding once the support is found,
    usually in a few steps (``max_iter`` bounds them). Differentiated by the
    implicit function theorem on the marginal equations restricted to the
    support, not through the iterations. ``x``: ``(n, m)`` (for a cost matrix
    ``C`` pass ``-C``); ``a``: ``(n,)`` and ``b``: ``(m,)`` nonnegative with
    ``sum(a) = sum(b)`` (derivatives in ``a, b`` are meaningful along
    mass-preserving directions). The KL counterpart is :func:`kl_projection_transport`.

    Negative marginals or unequal masses make the set empty: an error for
    concrete inputs; traced, negative entries are taken as 0 and ``b`` is
    rescaled to the mass of ``a``.

    >>> projection_transport(jnp.array([[1.0, 0.0], [0.0, 0.0]]), jnp.array([0.5, 0.5]), jnp.array([0.5, 0.5])).tolist()
    [[0.5, 0.0], [0.0, 0.5]]
    """
    x, a, b = as_floats(x, a, b)
    if x.ndim != 2:
        raise ArgumentError(f"x must be a matrix of shape (n, m), got shape {x.shape}")
    if a.shape != x.shape[:1] or b.shape != x.shape[1:]:
        raise ArgumentError(f"a and b must have shapes {x.shape[:1]} and {x.shape[1:]} to match x, "
                            f"got {a.shape} and {b.shape}")

    def empty():
        mass = jnp.abs(jnp.sum(a)) + jnp.abs(jnp.sum(b))
        return jnp.any(a < 0) | jnp.any(b < 0) | (jnp.abs(jnp.sum(a) - jnp.sum(b)) > x.size * jnp.finfo(x.dtype).eps
                                                  * mass)

    check_nonempty(empty, f"projection_transport: the transport polytope is empty (a of shape {a.shape}, b of shape "
                   f"{b.shape}: a negative marginal or sum(a) != sum(b))", a, b)
    a, b = jnp.maximum(a, 0), jnp.maximum(b, 0)
    b = b * safe_div(jnp.sum(a), jnp.sum(b))
    return _transports(x, a, b, max_iter)


def projection_birkhoff(x: ArrayLike, max_iter: int = 100) -> Array:
    """Euclidean projection of a square matrix onto the Birkhoff polytope (doubly stochastic matrices).

    :func:`projection_transport` with ``a = b = 1``; the KL counterpart is :func:`kl_projection_birkhoff`.

    >>> projection_birkhoff(jnp.array([[0.75, 0.25], [0.25, 0.75]])).tolist()
    [[0.75, 0.25], [0.25, 0.75]]
    """
    (x,) = as_floats(x)
    if x.ndim != 2 or x.shape[0] != x.shape[1]:
        raise ArgumentError(f"x must be a square matrix, got shape {x.shape}")
    ones = jnp.ones(x.shape[:1], x.dtype)
    return projection_transport(x, ones, ones, max_iter)
