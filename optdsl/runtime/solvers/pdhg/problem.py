"""A PDLP problem in saddle-point form, and the tests its points are judged by.

The problem ``min 0.5 x'Px + c'x  s.t.  A x = b,  G x <= h,  l <= x <= u`` is solved as
``min_x max_y 0.5 x'Px + c'x - y'(K x - q)`` with ``K = [A; -G]``, ``q = [b; -h]``, ``y`` free on
the equality rows and ``y >= 0`` on the inequality rows (``K x >= q`` there). A :class:`View` is
that problem after the preconditioner ``x = e * x^``, ``y = d * y^`` (the data as given is the
view with ``d = e = 1``); every residual it reports is converted back to the units of the data
as given, so the stopping tests mean the same with or without preconditioning.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from optdsl.runtime.safe_math import safe_div
from optdsl.runtime.solvers.pdhg.operators import Matrix, matvec, rmatvec

Array = jax.Array


class Problem(NamedTuple):
    """The data as given; ``P`` is None for an LP. ``lower``/``upper`` may hold infinities."""

    P: Matrix | None
    c: Array
    A: Matrix
    b: Array
    G: Matrix
    h: Array
    lower: Array
    upper: Array


class View(NamedTuple):
    """``problem`` under the preconditioner ``(d, e)``: its scaled vectors and the norms of the data as given."""

    problem: Problem
    d: Array
    e: Array
    c: Array
    q: Array
    lower: Array
    upper: Array
    ineq: Array
    c_norm: Array
    q_norm: Array


class Point(NamedTuple):
    """A primal-dual point of a view and its products ``K x``, ``K' y``, ``P x`` (all linear in the point)."""

    x: Array
    y: Array
    Kx: Array
    KTy: Array
    Px: Array


class Optimality(NamedTuple):
    """Residuals of a point: relative (units of the data as given) and scaled norms for the restart metric."""

    relative: Array
    primal: Array
    dual: Array
    gap: Array
    reduced_costs: Array


class Certificate(NamedTuple):
    """A ray's violation per unit of objective (``inf`` when its objective has the wrong sign) and its objective."""

    ratio: Array
    objective: Array
    reduced_costs: Array


def view(problem: Problem, d: Array, e: Array) -> View:
    """``problem`` preconditioned by rows ``d`` of ``K`` and columns ``e``."""
    p = problem.b.shape[0]
    q = jnp.concatenate([problem.b, -problem.h])
    ineq = jnp.arange(q.shape[0]) >= p
    return View(problem, d, e, e * problem.c, d * q, problem.lower / e, problem.upper / e, ineq,
                jnp.linalg.norm(problem.c), jnp.linalg.norm(q))


def K(v: View, x: Array) -> Array:
    """``K^ x`` of the view."""
    ex = v.e * x
    return v.d * jnp.concatenate([matvec(v.problem.A, ex), -matvec(v.problem.G, ex)])


def KT(v: View, y: Array) -> Array:
    """``K^' y`` of the view."""
    dy = v.d * y
    p = v.problem.b.shape[0]
    return v.e * (rmatvec(v.problem.A, dy[:p]) - rmatvec(v.problem.G, dy[p:]))


def P(v: View, x: Array) -> Array:
    """``P^ x`` of the view (zero for an LP)."""
    if v.problem.P is None:
        return jnp.zeros_like(x)
    return v.e * matvec(v.problem.P, v.e * x)


def point(v: View, x: Array, y: Array) -> Point:
    """``(x, y)`` with its products."""
    return Point(x, y, K(v, x), KT(v, y), P(v, x))


def project_dual(v: View, y: Array) -> Array:
    """``y`` with its inequality entries raised to 0."""
    return jnp.where(v.ineq, jnp.maximum(y, 0), y)


def project_primal(v: View, x: Array) -> Array:
    """``x`` clipped to the bounds."""
    return jnp.clip(x, v.lower, v.upper)


def recession(v: View, x: Array) -> Array:
    """``x`` projected onto the directions the bounds allow without end (0 where both bounds are finite)."""
    lo, hi = jnp.isfinite(v.lower), jnp.isfinite(v.upper)
    return jnp.where(lo & hi, 0, jnp.where(lo, jnp.maximum(x, 0), jnp.where(hi, jnp.minimum(x, 0), x)))


def _bound_terms(v: View, rc: Array) -> tuple[Array, Array]:
    """``(reduced costs allowed by the bounds, l' rc+ - u' rc- over the finite bounds)`` for a gradient ``rc``."""
    lo, hi = jnp.isfinite(v.lower), jnp.isfinite(v.upper)
    plus = jnp.where(lo, jnp.maximum(rc, 0), 0)
    minus = jnp.where(hi, jnp.minimum(rc, 0), 0)
    value = jnp.sum(jnp.where(lo, v.lower, 0) * plus) + jnp.sum(jnp.where(hi, v.upper, 0) * minus)
    return plus + minus, value


def primal_residual(v: View, Kx_minus_q: Array) -> Array:
    """Violation of ``K x = q`` (equality rows) and ``K x >= q`` (inequality rows), scaled units."""
    return jnp.where(v.ineq, jnp.minimum(Kx_minus_q, 0), Kx_minus_q)


def optimality(v: View, z: Point) -> Optimality:
    """Relative primal residual, dual residual and duality gap (PDLP's), their maximum in ``relative``.

    ``||r_p|| / (1 + ||q||)``, ``||r_d|| / (1 + ||c||)`` and ``|p - d| / (1 + |p| + |d|)`` (2-norms, the
    data as given): ``r_p`` the constraint violation, ``r_d = P x + c - K'y - rc`` with ``rc`` the
    reduced costs the finite bounds allow, ``p`` and ``d`` the primal and dual objectives.
    """
    r_p = primal_residual(v, z.Kx - v.q)
    grad = z.Px + v.c - z.KTy
    rc, bound_value = _bound_terms(v, grad)
    r_d = grad - rc
    quadratic = jnp.vdot(z.x, z.Px)
    primal_obj = 0.5 * quadratic + jnp.vdot(v.c, z.x)
    dual_obj = -0.5 * quadratic + jnp.vdot(v.q, z.y) + bound_value
    gap = jnp.abs(primal_obj - dual_obj)
    rel_p = primal_relative(v, r_p)
    rel_d = jnp.linalg.norm(r_d / v.e) / (1 + v.c_norm)
    rel_gap = gap / (1 + jnp.abs(primal_obj) + jnp.abs(dual_obj))
    return Optimality(jnp.maximum(jnp.maximum(rel_p, rel_d), rel_gap), jnp.linalg.norm(r_p), jnp.linalg.norm(r_d),
                      gap, rc)


def primal_relative(v: View, r_p: Array) -> Array:
    """The relative primal residual ``||r_p|| / (1 + ||q||)`` of a scaled constraint violation ``r_p``, in the units
    of the data as given."""
    return jnp.linalg.norm(r_p / v.d) / (1 + v.q_norm)


def _per_objective(violation: Array, objective: Array) -> Array:
    """``violation / objective`` where the objective is positive, else ``inf`` (no certificate)."""
    return jnp.where(objective > 0, safe_div(violation, objective, objective > 0), jnp.inf)


def infeasibility(v: View, y: Array, KTy: Array) -> Certificate:
    """How well a dual ray ``y`` (``y >= 0`` on inequality rows) certifies that no ``x`` is feasible.

    Farkas: ``-K'y = rc`` with ``rc`` allowed by the bounds and ``q'y + l'rc+ - u'rc- > 0``. ``ratio`` is
    ``||-K'y - rc||_inf`` (the data as given) over that objective. A feasible ``x`` would give
    ``ratio >= 1 / ||x||_1``, so a ratio ``<= tol`` certifies unless every feasible point is ``1 / tol`` long.
    """
    rc, bound_value = _bound_terms(v, -KTy)
    objective = jnp.vdot(v.q, y) + bound_value
    violation = jnp.max(jnp.abs((-KTy - rc) / v.e), initial=0)
    return Certificate(_per_objective(violation, objective),
                       objective, rc)


def unboundedness(v: View, x: Array, Kx: Array, Px: Array) -> Certificate:
    """How well a primal ray ``x`` (allowed by the bounds) certifies that the objective is unbounded below.

    ``P x = 0``, ``K x = 0`` on equality rows, ``K x >= 0`` on inequality rows and ``c'x < 0``; ``ratio`` is
    the largest violation (the data as given) over ``-c'x``; a solution ``(x*, y*)`` would give
    ``ratio >= 1 / (||x*||_1 + ||y*||_1)``.
    """
    objective = -jnp.vdot(v.c, x)
    violation = jnp.maximum(jnp.max(jnp.abs(primal_residual(v, Kx) / v.d), initial=0),
                            jnp.max(jnp.abs(Px / v.e), initial=0))
    return Certificate(_per_objective(violation, objective),
                       objective, jnp.zeros_like(x))
