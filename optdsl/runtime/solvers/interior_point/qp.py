"""Dense convex QPs by a primal-dual interior-point method, with implicit derivatives from its KKT factorisation.

Solves ``min 0.5 x'Qx + q'x  s.t.  A x = b (p rows),  G x <= h (m rows)`` with
``Q`` positive semidefinite. The iteration is Mehrotra's predictor-corrector on
the homogeneous self-dual embedding of the QP (the formulation of Clarabel,
Goulart & Chen 2024): variables ``(x, nu, lam, s, tau, kappa)`` with
``s = h tau - G x >= 0``, ``lam >= 0``, ``tau, kappa > 0`` and residuals::

    r_x   = Q x + A' nu + G' lam + q tau
    r_nu  = A x - b tau
    r_lam = G x + s - h tau
    r_tau = kappa + q'x + b'nu + h'lam + x'Qx / tau

A solution has ``tau > 0`` and gives ``(x, nu, lam) / tau``; ``tau -> 0`` with
``kappa > 0`` gives a certificate instead: ``A'nu + G'lam = 0``, ``b'nu + h'lam < 0``
(primal infeasible) or ``Qx = 0, Ax = 0, Gx <= 0, q'x < 0`` (unbounded below).
"""

from __future__ import annotations

from numbers import Real
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from optdsl.errors import ArgumentError, ArgumentTypeError
from optdsl.runtime.implicit_diff import custom_root
from optdsl.runtime.lu import LU, lu_solve
from optdsl.runtime.solvers.base import check_count, lu_factor_checked, per_instance, resolve_tol, run_if
from optdsl.runtime.solvers.interior_point.core import (RUNNING, check_start, conclude, finite, floored, result, run,
                                                        select, status)
from optdsl.runtime.solvers.interior_point.kkt import (KKTAux, KKTJacobian, KKTPoint, active_set_matrix,
                                                       complementarity_sizes, factor_active_set, factor_kkt,
                                                       kkt_factored_solve, kkt_residual)
from optdsl.runtime.solvers.interior_point.newton_step import condensed_kkt_solve, max_step, regularisation
from optdsl.runtime.solvers.log import iteration_log, reported
from optdsl.runtime.status import INFEASIBLE, MAX_ITERATIONS, SOLVED, UNBOUNDED

#: Fraction of the distance to the boundary of the cone a step may go.
STEP_FRACTION = 0.99
#: Most iterations a solved QP whose polish is refused takes beyond ``tol`` before it is polished again.
TIGHTEN_ITERATIONS = 10
#: The polish is first tried once the residual is below ``tol ** POLISH_FROM`` (1e-6 at float64's default
#: ``tol``): there the active set is settled on a regular QP, and the polish reaches rounding in one solve where
#: the steps would take two or three more to reach ``tol``. Where it is refused the steps go on to ``tol``.
POLISH_FROM = 0.6


class QPData(NamedTuple):
    """The data of ``min 0.5 x'Qx + q'x s.t. A x = b, G x <= h``: the ``params`` of the functions below."""

    Q: jax.Array
    q: jax.Array
    A: jax.Array
    b: jax.Array
    G: jax.Array
    h: jax.Array


def qp_objective(x: jax.Array, d: QPData) -> jax.Array:
    """``f = 0.5 x'Qx + q'x`` (only the symmetric part of ``Q`` counts)."""
    return 0.5 * x @ (d.Q @ x) + d.q @ x


def qp_inequalities(x: jax.Array, d: QPData) -> jax.Array:
    """``g = G x - h <= 0``."""
    return d.G @ x - d.h


def qp_equalities(x: jax.Array, d: QPData) -> jax.Array:
    """``h_eq = A x - b = 0``."""
    return d.A @ x - d.b


#: ``(f, g, h_eq)`` of a QP, for :func:`~optdsl.runtime.solvers.interior_point.kkt.kkt_residual` and
#: :func:`~optdsl.runtime.solvers.interior_point.kkt.kkt_jacobian` with ``params`` a :class:`QPData`.
QP_FUNCTIONS = (qp_objective, qp_inequalities, qp_equalities)


def _residual(point: KKTPoint, d: QPData) -> KKTPoint:
    """The KKT residual of a QP at ``point``, read off its data (``kkt_residual(*QP_FUNCTIONS)`` without autodiff,
    which would trace a gradient at every call site)."""
    x, nu, lam = point
    return KKTPoint(d.Q @ x + d.q + d.A.T @ nu + d.G.T @ lam, qp_equalities(x, d), lam * qp_inequalities(x, d))


def _jacobian(point: KKTPoint, d: QPData) -> KKTJacobian:
    """The KKT Jacobian of a QP at ``point``, read off its data (``kkt_jacobian(*QP_FUNCTIONS)`` without autodiff)."""
    return KKTJacobian(d.Q, d.A, d.G, qp_inequalities(point.x, d), point.lam)


class _Embedded(NamedTuple):
    """Iterate of the homogeneous embedding; ``code`` is RUNNING or the final status."""

    x: jax.Array
    nu: jax.Array
    lam: jax.Array
    s: jax.Array
    tau: jax.Array
    kappa: jax.Array
    code: jax.Array
    residual: jax.Array


class _Barrier(NamedTuple):
    """Iterate of the non-homogeneous barrier Newton phase (``mu_target`` mode)."""

    x: jax.Array
    nu: jax.Array
    lam: jax.Array
    s: jax.Array
    code: jax.Array
    residual: jax.Array


def _check_qp(Q, q, A, b, G, h) -> QPData:
    """The QP data as arrays of one floating dtype, with consistent shapes (else an ArgumentError naming them).

    ``Q`` is replaced by its symmetric part ``(Q + Q') / 2``, the matrix of the objective.
    """
    arrays = [jnp.asarray(v) for v in (Q, q, A, b, G, h)]
    dtype = jnp.result_type(*arrays)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ArgumentTypeError(f"QP data must be floating point, got dtype {dtype}")
    Q, q, A, b, G, h = (v.astype(dtype) for v in arrays)
    if q.ndim != 1:
        raise ArgumentError(f"q must be a vector of shape (n,), got shape {q.shape}")
    n = q.shape[0]
    if Q.shape != (n, n):
        raise ArgumentError(f"Q must have shape (n, n) = {(n, n)} to match q {q.shape}, got {Q.shape}")
    for mat, vec, mname, vname in ((A, b, "A", "b"), (G, h, "G", "h")):
        if vec.ndim != 1:
            raise ArgumentError(f"{vname} must be a vector, got shape {vec.shape}")
        if mat.shape != (vec.shape[0], n):
            raise ArgumentError(f"{mname} must have shape ({vname} rows, n) = {(vec.shape[0], n)}, got {mat.shape}")
    return QPData((Q + Q.T) / 2, q, A, b, G, h)


def _max_abs(v: jax.Array) -> jax.Array:
    """The largest magnitude of ``v`` (0 for an empty ``v``)."""
    return jnp.max(jnp.abs(v), initial=0)


def _scaled_residuals(d: QPData, x, nu, lam, s):
    """Relative primal and dual residuals of a (normalised) point, Clarabel-style."""
    F = _residual(KKTPoint(x, nu, lam), d)
    r_p = jnp.maximum(_max_abs(F.nu), _max_abs(d.G @ x + s - d.h))
    r_d = _max_abs(F.x)
    primal = r_p / jnp.maximum(1, jnp.maximum(_max_abs(d.b), _max_abs(d.h)) + _max_abs(x) + _max_abs(s))
    dual = r_d / jnp.maximum(1, _max_abs(d.q) + _max_abs(x) + jnp.maximum(_max_abs(nu), _max_abs(lam)))
    return primal, dual


def _assess(d: QPData, st: _Embedded, tol, solved=None) -> tuple[jax.Array, jax.Array]:
    """Status code and optimality residual of an embedding iterate.

    SOLVED when the relative primal and dual residuals and the relative duality gap
    of ``(x, nu, lam, s) / tau`` are all ``<= solved`` (default ``tol``). Otherwise, once ``kappa > tau``,
    INFEASIBLE when ``b'nu + h'lam < 0`` and ``||A'nu + G'lam||_inf <= tol |b'nu + h'lam|``,
    UNBOUNDED when ``q'x < 0`` and ``||Qx||, ||Ax||, max(Gx)_+ <= tol |q'x|``. A ray proves
    unboundedness only for a feasible problem: while a Farkas certificate is forming too
    (its residual within ``sqrt(tol) |b'nu + h'lam|``), the iterations go on until one of the two holds.
    """
    x, nu, lam, s = st.x / st.tau, st.nu / st.tau, st.lam / st.tau, st.s / st.tau
    primal, dual = _scaled_residuals(d, x, nu, lam, s)
    quad = x @ (d.Q @ x)
    pobj = 0.5 * quad + d.q @ x
    dobj = -0.5 * quad - d.b @ nu - d.h @ lam
    gap = jnp.abs(pobj - dobj) / jnp.maximum(1, jnp.minimum(jnp.abs(pobj), jnp.abs(dobj)))
    residual = jnp.maximum(jnp.maximum(primal, dual), gap)

    certifying = st.kappa > st.tau
    bz = d.b @ st.nu + d.h @ st.lam
    farkas = _max_abs(d.A.T @ st.nu + d.G.T @ st.lam)
    infeasible = certifying & (bz < 0) & (farkas <= -tol * bz)
    forming = (bz < 0) & (farkas <= -jnp.sqrt(tol) * bz)
    qx = d.q @ st.x
    ray = jnp.maximum(jnp.maximum(_max_abs(d.Q @ st.x), _max_abs(d.A @ st.x)),
                      jnp.max(jnp.maximum(d.G @ st.x, 0), initial=0))
    unbounded = certifying & (qx < 0) & (ray <= -tol * qx) & ~forming

    code = status(residual, tol if solved is None else solved, finite(st.x, st.nu, st.lam, st.s, residual))
    stopped = jnp.where(infeasible, INFEASIBLE, jnp.where(unbounded, UNBOUNDED, RUNNING))
    return jnp.where(code == RUNNING, stopped, code).astype(jnp.int32), residual


def _cold_start(d: QPData) -> _Embedded:
    """Clarabel's symmetric initial point: solve ``[[Q, A', G'], [A, 0, 0], [G, 0, -I]] (x, nu, w) = (-q, b, h)``,
    then ``s = -w = h - G x`` and ``lam = w``, each shifted to ``>= 1``; ``tau = kappa = 1``."""
    dtype = d.q.dtype
    solve = condensed_kkt_solve(d.Q, d.A, d.G, jnp.ones(d.h.shape[0], dtype), regularisation(dtype))
    x, nu, w = solve(-d.q, d.b, d.h)
    shift = lambda v: v + jnp.maximum(0, -jnp.min(v, initial=0)) + 1
    one = jnp.ones((), dtype)
    return _Embedded(x, nu, shift(w), shift(-w), one, one, jnp.asarray(RUNNING, jnp.int32), one)


def _warm_start(d: QPData, init: KKTPoint) -> _Embedded:
    """``init`` with ``s = h - G x`` and ``lam`` raised to their :func:`~.core.floored` values; ``tau = 1`` and
    ``kappa`` the mean of ``s * lam`` (centred like the other pairs)."""
    dtype = d.q.dtype
    x, nu, lam = (lax.stop_gradient(jnp.asarray(v, dtype)) for v in init)
    s = d.h - d.G @ x
    residual = jnp.maximum(*_scaled_residuals(d, x, nu, jnp.maximum(lam, 0), jnp.maximum(s, 0)))
    s, lam = floored(s, residual), floored(lam, residual)
    kappa = (s @ lam) / jnp.maximum(d.h.shape[0], 1)
    one = jnp.ones((), dtype)
    return _Embedded(x, nu, lam, s, one, kappa, jnp.asarray(RUNNING, jnp.int32), one)


def _distance(d: QPData, st: _Embedded) -> jax.Array:
    """How far an embedding iterate is from a solution: its largest residual or mean complementarity.

    Absolute, in the units of the data, so that two starts for the same data compare (the
    relative residuals of :func:`_assess` would rate any point of a huge norm as close).
    """
    r_x, r_nu, r_lam, r_tau = _embedding_residuals(d, st)
    mu = (st.lam @ st.s + st.tau * st.kappa) / (d.h.shape[0] + 1)
    return jnp.max(jnp.array([_max_abs(r_x), _max_abs(r_nu), _max_abs(r_lam), jnp.abs(r_tau), mu]))


def _initial_point(d: QPData, tol, init: KKTPoint | None) -> _Embedded:
    """The cold start, or the warm start from ``init`` where that is the closer (:func:`_distance`)."""
    def assessed(st):
        code, residual = _assess(d, st, tol)
        return st._replace(code=code, residual=residual)

    cold = assessed(_cold_start(d))
    if init is None:
        return cold
    warm = assessed(_warm_start(d, init))
    return select(_distance(d, warm) < _distance(d, cold), warm, cold)


def _embedding_residuals(d: QPData, st: _Embedded) -> tuple[jax.Array, ...]:
    """``(r_x, r_nu, r_lam, r_tau)`` of the module docstring."""
    Qx = d.Q @ st.x
    r_x = Qx + d.A.T @ st.nu + d.G.T @ st.lam + d.q * st.tau
    r_nu = d.A @ st.x - d.b * st.tau
    r_lam = d.G @ st.x + st.s - d.h * st.tau
    r_tau = st.kappa + d.q @ st.x + d.b @ st.nu + d.h @ st.lam + st.x @ Qx / st.tau
    return r_x, r_nu, r_lam, r_tau


def _embedding_step(d: QPData, st: _Embedded, tol, mu_target, solved=None) -> _Embedded:
    """One Mehrotra predictor-corrector step on the homogeneous embedding (see the module docstring); ``tol`` and
    ``solved`` as in :func:`_assess`."""
    dtype = d.q.dtype
    m = d.h.shape[0]
    x, nu, lam, s, tau, kappa = st.x, st.nu, st.lam, st.s, st.tau, st.kappa
    r_x, r_nu, r_lam, r_tau = _embedding_residuals(d, st)

    w = lam / s
    solve = condensed_kkt_solve(d.Q, d.A, d.G, w, regularisation(dtype), active=st.code == RUNNING)
    xi = x / tau
    # The tau column (-q, b, h) and the affine (predictor) right-hand side share one batched solve.
    (dx2, dx_aff), (dnu2, dnu_aff), (dlam2, dlam_aff) = jax.vmap(solve)(
        jnp.stack([-d.q, -r_x]), jnp.stack([d.b, -r_nu]), jnp.stack([d.h, s - r_lam]))
    lin_x = d.q + 2 * d.Q @ xi
    # Coefficient of dtau in the linearised tau equation, -kappa/tau - xi'Q xi + lin_x'dx2 + b'dnu2 + h'dlam2,
    # rewritten without cancellation: -kappa/tau - |xi - dx2|_Q^2 - |dlam2|_D^2 < 0 when (dx2, dnu2, dlam2)
    # solves its system exactly, plus the terms its residual (e1, e2, e3) adds. Those are
    # -reg (|dx2|^2 + |dnu2|^2) <= 0 where the regularisation stayed (a singular system); a positive
    # value can only be rounding error, so it is dropped and the coefficient stays negative.
    e1 = d.Q @ dx2 + d.A.T @ dnu2 + d.G.T @ dlam2 + d.q
    e2 = d.A @ dx2 - d.b
    e3 = d.G @ dx2 - dlam2 / w - d.h
    gap = xi - dx2
    den = -kappa / tau - gap @ (d.Q @ gap) - dlam2 @ (dlam2 / w) + jnp.minimum(dx2 @ e1 - dnu2 @ e2 - dlam2 @ e3, 0)

    def direction(eta, comp, comp_tk, part):
        """Step for residual reduction ``eta`` and complementarity ``lam*ds + s*dlam = -comp``
        (likewise ``comp_tk`` for tau*kappa); ``part`` solves the system with right-hand side
        ``(-eta r_x, -eta r_nu, -eta r_lam + comp / lam)``, completed here by the tau column."""
        dx1, dnu1, dlam1 = part
        num = -eta * r_tau + comp_tk / tau - lin_x @ dx1 - d.b @ dnu1 - d.h @ dlam1
        dtau = num / den
        dlam = dlam1 + dtau * dlam2
        ds = (-comp - s * dlam) / lam
        dkappa = (-comp_tk - kappa * dtau) / tau
        return dx1 + dtau * dx2, dnu1 + dtau * dnu2, dlam, ds, dtau, dkappa

    def step_length(dirn):
        _, _, dlam, ds, dtau, dkappa = dirn
        return max_step(jnp.concatenate([lam, s, tau[None], kappa[None]]),
                        jnp.concatenate([dlam, ds, dtau[None], dkappa[None]]))

    affine = direction(1, lam * s, tau * kappa, (dx_aff, dnu_aff, dlam_aff))
    alpha_aff = step_length(affine)
    mu = (lam @ s + tau * kappa) / (m + 1)
    sigma = (1 - alpha_aff) ** 3
    target = sigma * mu
    comp = lam * s + affine[2] * affine[3] - target
    comp_tk = tau * kappa + affine[4] * affine[5] - target
    eta = 1 - sigma
    combined = direction(eta, comp, comp_tk, solve(-eta * r_x, -eta * r_nu, -eta * r_lam + comp / lam))
    alpha = jnp.minimum(1, STEP_FRACTION * step_length(combined))
    dx, dnu, dlam, ds, dtau, dkappa = combined
    new = _Embedded(x + alpha * dx, nu + alpha * dnu, lam + alpha * dlam, s + alpha * ds,
                    tau + alpha * dtau, kappa + alpha * dkappa, st.code, st.residual)
    code, residual = _assess(d, new, tol, solved)
    new = conclude(new._replace(code=code, residual=residual), st, alpha > jnp.finfo(dtype).eps)
    if mu_target is None:
        return new
    # Hand over to the barrier phase once the normalised complementarity reaches the target.
    reached = (new.lam @ new.s) / (jnp.maximum(m, 1) * new.tau ** 2) <= mu_target
    return new._replace(code=jnp.where((new.code == RUNNING) & reached, SOLVED, new.code).astype(jnp.int32))


def _barrier_assess(d: QPData, st: _Barrier, tol, mu_target) -> tuple[jax.Array, jax.Array]:
    """Residual of the relaxed system ``lam * s = mu_target``: primal, dual, relative centrality."""
    primal, dual = _scaled_residuals(d, st.x, st.nu, st.lam, st.s)
    central = jnp.max(jnp.abs(st.lam * st.s - mu_target), initial=0) / mu_target
    residual = jnp.maximum(jnp.maximum(primal, dual), central)
    return status(residual, tol, finite(st.x, st.nu, st.lam, st.s, residual)), residual


def _barrier_step(d: QPData, st: _Barrier, tol, mu_target) -> _Barrier:
    """One damped Newton step on ``(r_d, r_p, G x + s - h, lam * s - t) = 0``, ``t = max(mu / 10, mu_target)``."""
    dtype = d.q.dtype
    m = d.h.shape[0]
    x, nu, lam, s = st.x, st.nu, st.lam, st.s
    r_d, r_p, _ = _residual(KKTPoint(x, nu, lam), d)
    r_i = d.G @ x + s - d.h
    mu = (lam @ s) / jnp.maximum(m, 1)
    r_c = lam * s - jnp.maximum(mu / 10, mu_target)
    solve = condensed_kkt_solve(d.Q, d.A, d.G, lam / s, regularisation(dtype), active=st.code == RUNNING)
    dx, dnu, dlam = solve(-r_d, -r_p, -r_i + r_c / lam)
    ds = (-r_c - s * dlam) / lam
    alpha = jnp.minimum(1, STEP_FRACTION * max_step(jnp.concatenate([lam, s]), jnp.concatenate([dlam, ds])))
    new = _Barrier(x + alpha * dx, nu + alpha * dnu, lam + alpha * dlam, s + alpha * ds, st.code, st.residual)
    code, residual = _barrier_assess(d, new, tol, mu_target)
    return conclude(new._replace(code=code, residual=residual), st, alpha > jnp.finfo(dtype).eps)


def _returned_point(d: QPData, st: _Embedded, code) -> KKTPoint:
    """``(x, nu, lam) / tau``, or the certificate normalised as :func:`qp_interior_point` documents."""
    infeasible, unbounded = code == INFEASIBLE, code == UNBOUNDED
    bz = d.b @ st.nu + d.h @ st.lam
    qx = d.q @ st.x
    scale = jnp.where(infeasible, -bz, jnp.where(unbounded, -qx, st.tau))
    scale = jnp.where(scale > 0, scale, st.tau)
    return KKTPoint(jnp.where(infeasible, 0, st.x / scale), jnp.where(unbounded, 0, st.nu / scale),
                   jnp.where(unbounded, 0, st.lam / scale))


class _Polish(NamedTuple):
    """The KKT point on an active set: the point, the LU of its system and whether it is taken."""

    point: KKTPoint
    active: jax.Array
    lu: LU
    pivot_small: jax.Array
    residual: jax.Array
    accepted: jax.Array


def _polish(d: QPData, point: KKTPoint, residual: jax.Array) -> _Polish:
    """The interior point's ``point`` refined on its active set, to rounding accuracy (an OSQP-style polish).

    The active set is read off the point: the constraints whose multiplier outweighs their
    distance to the bound, both made unit-free
    (:func:`~optdsl.runtime.solvers.interior_point.kkt.complementarity_sizes`). Two Newton
    steps from ``point`` on the active-set equations
    (:func:`~optdsl.runtime.solvers.interior_point.kkt.active_set_matrix`; linear for a QP,
    so the second is iterative refinement of the first) with one LU factorisation give the
    refined point. It is taken when the system is non-singular, the point is finite,
    ``lam >= 0`` on the active set, ``G x <= h`` off it (both to rounding), and its residual (that of
    :func:`_assess`) is at most ``residual`` or at the level of rounding (:func:`_rounding`).
    """
    n, p = d.q.shape[0], d.b.shape[0]
    jac = _jacobian(point, d)
    a, c = complementarity_sizes(jac, point)
    active = a > c
    on = active.astype(d.q.dtype)
    lu, pivot_small = lu_factor_checked(active_set_matrix(jac, active))

    def newton(z: KKTPoint) -> KKTPoint:
        F = _residual(z, d)
        rhs = jnp.concatenate([F.x, F.nu, on * qp_inequalities(z.x, d) - (1 - on) * z.lam])
        dz = lu_solve(lu, rhs)
        return KKTPoint(z.x - dz[:n], z.nu - dz[n:n + p], jnp.where(active, z.lam - dz[n + p:], 0))

    z = newton(newton(point))
    Gx = d.G @ z.x
    slack = d.h - Gx
    # A weakly active constraint's multiplier and slack are both zero, which the solve gives to rounding, of
    # either sign: the signs are tested to the rounding of their scale, and such a multiplier is clipped to zero.
    signs = jnp.all(jnp.where(active, z.lam >= -_rounding(d) * _max_abs(z.lam),
                              slack >= -_rounding(d) * jnp.maximum(_max_abs(d.h), _max_abs(Gx))))
    z = z._replace(lam=jnp.maximum(z.lam, 0))
    one = jnp.ones((), d.q.dtype)
    embedded = _Embedded(z.x, z.nu, z.lam, jnp.maximum(slack, 0), one, 0 * one, jnp.asarray(RUNNING, jnp.int32), one)
    refined = _assess(d, embedded, residual)[1]
    accepted = ~pivot_small & signs & finite(z.x, z.nu, z.lam) & (refined <= jnp.maximum(residual, _rounding(d)))
    return _Polish(z, active, lu, pivot_small, refined, accepted)


def _rounding(d: QPData) -> jax.Array:
    """``N eps`` for ``N = n + p + m`` unknowns: a relative residual at the level of a dense solve's rounding."""
    return (d.q.shape[0] + d.b.shape[0] + d.h.shape[0]) * jnp.finfo(d.q.dtype).eps


class _Rounds(NamedTuple):
    """State of :func:`_iterated_and_polished`: the round (0, 1 or 2), the iterate, its iterations and status, the
    polish."""

    round: jax.Array
    st: _Embedded
    iterations: jax.Array
    code: jax.Array
    polished: _Polish


def _iterated_and_polished(d: QPData, start: _Embedded, tol: jax.Array, maxiter: int,
                           log: Callable | None) -> _Rounds:
    """The embedding's iterations from ``start`` and the polish (:func:`_polish`) of their point, in up to three
    rounds, each followed by a polish attempt that is taken only where it reaches ``tol`` (or rounding).

    Round 0 takes at most ``maxiter`` steps to ``tol ** POLISH_FROM`` (:data:`POLISH_FROM`) and polishes a SOLVED
    or MAX_ITERATIONS point. Where that SOLVED point's polish is refused, round 1 steps on to ``tol`` with the rest
    of ``maxiter`` (its status is the solve's) and polishes again. The active set is read off a point whose
    complementarity products ``lam_i s_i`` are about its residual, so a constraint whose multiplier and slack are
    both below the square root of the residual can be misread: where the polish of a point within ``tol`` is
    refused, round 2 takes at most :data:`TIGHTEN_ITERATIONS` more steps towards :func:`_rounding` (near the
    solution they converge fast and make the reading right), keeps the last iterate or the earlier one, whichever
    has the smaller residual, and polishes that. The rounds run in one loop, so the step and the polish are each
    compiled once; under a lock-step ``vmap`` only the instances that need a later round take its steps.
    """
    m, N = d.h.shape[0], d.q.shape[0] + d.b.shape[0] + d.h.shape[0]
    dtype = d.q.dtype
    zero = jnp.zeros((), jnp.int32)
    rejected = _Polish(KKTPoint(jnp.zeros_like(d.q), jnp.zeros_like(d.b), jnp.zeros_like(d.h)), jnp.zeros(m, bool),
                       LU(jnp.zeros((N, N), dtype), jnp.zeros(N, jnp.int32)), jnp.asarray(True), jnp.zeros((), dtype),
                       jnp.asarray(False))
    rounding = _rounding(d)

    def pending(r: _Rounds) -> jax.Array:
        return (r.round == 0) | ((r.round <= 2) & (r.code == SOLVED) & ~r.polished.accepted)

    def one_round(r: _Rounds) -> _Rounds:
        first, last = r.round == 0, r.round == 2
        go = jnp.where(first, r.st.code, jnp.where(pending(r), RUNNING, r.st.code)).astype(jnp.int32)
        solved = jnp.where(first, jnp.maximum(tol, tol ** POLISH_FROM), jnp.where(last, rounding, tol))
        budget = jnp.where(first, maxiter, jnp.where(last, TIGHTEN_ITERATIONS, maxiter - r.iterations))
        shifted = None if log is None else (lambda k, st, active: log(k + r.iterations, st, active))
        step_tol = jnp.where(last, rounding, tol)
        end, k, code = run(lambda st: _embedding_step(d, st, step_tol, None, solved), r.st._replace(code=go),
                           budget, shifted)
        closer = end.residual < r.st.residual
        st = select(first | closer, select(last, end._replace(code=r.st.code), end), r.st)
        code = jnp.where(last, r.code, code).astype(jnp.int32)
        attempt = jnp.where(last, pending(r), (code == SOLVED) | (code == MAX_ITERATIONS))
        polished = run_if(attempt, lambda point, residual: _polish(d, point, residual),
                          (_returned_point(d, st, code), jnp.minimum(st.residual, tol)), r.polished)
        return _Rounds(r.round + 1, st, r.iterations + k, code, polished)

    return lax.while_loop(pending, one_round, _Rounds(zero, start, zero, start.code, rejected))


def _refined_result(d: QPData, start: _Embedded, tol: jax.Array, maxiter: int,
                    log: Callable | None) -> tuple[KKTPoint, KKTAux]:
    """``(point, KKTAux)`` of a solve in exact mode: the point refined by :func:`_polish` where that is taken.

    A polished point's factorisation is the polish's own LU (the limit of the row-scaled KKT
    Jacobian there, :func:`~optdsl.runtime.solvers.interior_point.kkt.factor_active_set`), so
    derivatives cost back-substitutions only and are those of the exact active-set
    system. Elsewhere the KKT Jacobian at the interior point's point is factorised
    (:func:`~optdsl.runtime.solvers.interior_point.kkt.factor_kkt`), and ``singular`` is set where a polish was
    tried: the point is degenerate (a weakly active constraint, dependent active constraints, a
    non-unique solution), its derivative a least-squares one. A polished point within ``tol`` is SOLVED.
    """
    rounds = _iterated_and_polished(d, start, tol, maxiter, log)
    st, code, polished = rounds.st, rounds.code, rounds.polished
    point = _returned_point(d, st, code)
    taken = polished.accepted
    new = select(taken, polished.point, point)
    fields = factor_active_set(_jacobian(new, d), new, polished.lu, polished.pivot_small,
                               polished.active)
    fields = run_if(~taken, lambda point: factor_kkt(_jacobian(point, d), point, exact=True, tol=tol), (point,),
                    fields)
    attempted = (code == SOLVED) | (code == MAX_ITERATIONS)
    fields = (fields[0] | (attempted & ~taken),) + fields[1:]
    residual = jnp.where(taken, polished.residual, st.residual)
    code = jnp.where(taken, SOLVED, code).astype(jnp.int32)
    return new, KKTAux(rounds.iterations, residual, code, *fields)


def qp_interior_point(Q: jax.Array, q: jax.Array, A: jax.Array, b: jax.Array, G: jax.Array, h: jax.Array, *,
                      init: KKTPoint | None = None, tol: float | None = None, maxiter: int = 100,
                      mu_target: float | None = None, polish: bool = True,
                      verbose: bool = False) -> tuple[KKTPoint, KKTAux]:
    """Solve ``min 0.5 x'Qx + q'x s.t. A x = b, G x <= h`` (dense, ``Q`` PSD); returns ``(KKTPoint, KKTAux)``.

    Shapes: ``Q (n, n)``, ``q (n,)``, ``A (p, n)``, ``b (p,)``, ``G (m, n)``, ``h (m,)``;
    ``p = 0`` or ``m = 0`` are zero-row arrays. Mehrotra predictor-corrector on
    the homogeneous self-dual embedding (module docstring), one Cholesky factorisation
    of the condensed ``n x n`` Newton matrix per iteration (the scaled ``(n + p + m)``
    LU where that is too ill-conditioned; see
    :func:`~optdsl.runtime.solvers.interior_point.newton_step.condensed_kkt_solve`) with
    iterative refinement. Under ``vmap``, a loop over the instances on a CPU, but for small QPs
    (:func:`~optdsl.runtime.solvers.base.per_instance`).
    Stops when the relative primal and dual residuals and the relative duality
    gap are ``<= tol`` (default :func:`~.base.default_tol`: 1e-10 in float64;
    the residual reported is their maximum). ``status``: SOLVED; INFEASIBLE with
    ``x = 0`` and a Farkas certificate ``lam >= 0``, ``A'nu + G'lam = 0``,
    ``b'nu + h'lam = -1`` in the point; UNBOUNDED with a ray ``Qx = 0, Ax = 0,
    Gx <= 0, q'x = -1`` in ``x`` and zero multipliers; MAX_ITERATIONS;
    NUMERICAL_ERROR for non-finite values or a vanishing step.

    ``mu_target > 0`` (the smoothed mode) stops instead on the central path
    ``lam * (h - G x) = mu_target``, the root of ``kkt_residual(*QP_FUNCTIONS, mu=mu_target)``:
    the embedding runs until its normalised complementarity reaches ``mu_target`` (so
    infeasibility is still detected), then damped Newton steps on the relaxed KKT
    system converge to that point.
    ``polish`` (exact mode): refine the solution on its active set to rounding accuracy
    before the KKT Jacobian is factorised (:func:`_refined_result`), so that derivatives
    are those of the exact active-set system, not of a point ``tol`` away (the ``qp``
    workload of ``python -m benchmarks.run`` measures its cost). ``polish=False`` returns the
    interior point's own point.
    ``init``: an optional :class:`KKTPoint`, typically the solution at nearby data (a
    warm start). The solver keeps its ``x``, ``nu`` and ``lam`` and the slacks
    ``s = h - G x``, raises ``s`` and ``lam`` to floors of the point's relative residual
    times their size (so they sit about as far inside the cone as the point is from
    the new solution), and starts the embedding there with ``tau = 1``; it starts from
    Clarabel's symmetric initial point (the cold start) instead where that has the
    smaller residual, so a poor ``init`` costs little. From the solution at data
    perturbed by 1e-3 a random QP (n = 30, 20 inequalities, 5 equalities) takes about 4
    iterations instead of 12, an LP about 5 instead of 10. The returned aux holds the
    LU of the KKT Jacobian at the returned point for
    :func:`~optdsl.runtime.solvers.interior_point.kkt.kkt_factored_solve`. ``verbose``: print the
    residual and the embedding's ``tau`` and ``kappa`` at each iteration (the barrier phase's
    residual after it) and the final status.

    Example:
        >>> import numpy as np
        >>> from optdsl.runtime.status import describe
        >>> point, aux = jax.jit(qp_interior_point)(jnp.eye(2), -jnp.ones(2), jnp.zeros((0, 2)), jnp.zeros(0),
        ...                                         jnp.eye(2), 0.5 * jnp.ones(2))
        >>> describe(aux.status), np.round(point.x, 6).tolist(), np.round(point.lam, 6).tolist()
        ('solved', [0.5, 0.5], [0.5, 0.5])
    """
    d = _check_qp(Q, q, A, b, G, h)
    init = None if init is None else check_start(init, d.q.shape[0], d.b.shape[0], d.h.shape[0])
    check_count("maxiter", maxiter, 1)
    dtype = d.q.dtype
    tol = resolve_tol(tol, dtype)
    if mu_target is not None and isinstance(mu_target, Real) and not mu_target > 0:
        raise ArgumentError(f"mu_target must be positive (or None for the exact KKT system), got {mu_target}")
    d = jax.tree_util.tree_map(lax.stop_gradient, d)
    tol = jnp.asarray(tol, dtype)
    mu_target = None if mu_target is None else jnp.asarray(mu_target, dtype)

    name = "qp_interior_point"

    def phases(d, init, tol, mu_target):
        log = iteration_log(verbose, name, lambda st: {"residual": st.residual, "tau": st.tau, "kappa": st.kappa})
        start = _initial_point(d, tol, init)
        if mu_target is None and polish:
            return _refined_result(d, start, tol, maxiter, log)
        st, k, code = run(lambda st: _embedding_step(d, st, tol, mu_target), start, maxiter, log)
        point = _returned_point(d, st, code)
        if mu_target is None:
            return result(point, _jacobian(point, d), k, st.residual, code, exact=True, tol=tol)
        start = _Barrier(point.x, point.nu, point.lam, st.s / st.tau,
                         jnp.where(code == SOLVED, RUNNING, code).astype(jnp.int32), st.residual)
        central, k2, code = run(lambda b: _barrier_step(d, b, tol, mu_target), start, maxiter,
                                iteration_log(verbose, f"{name} (barrier)", lambda b: {"residual": b.residual}))
        point = KKTPoint(central.x, central.nu, central.lam)
        return result(point, _jacobian(point, d), k + k2, central.residual, code, exact=False, tol=tol)

    def solve(d, init, tol, mu_target):
        point, aux = phases(d, init, tol, mu_target)
        return point, reported(verbose, name, aux)

    # Batched lock-step for small QPs, else one instance after another on a CPU (each stops at its own count).
    unknowns = d.q.shape[0] + d.b.shape[0] + d.h.shape[0]
    return per_instance(solve, size=unknowns)(d, init, tol, mu_target)


def solve_qp(Q: jax.Array, q: jax.Array, A: jax.Array, b: jax.Array, G: jax.Array, h: jax.Array,
             **opts: Any) -> tuple[KKTPoint, KKTAux]:
    """:func:`qp_interior_point` with implicit derivatives in all of ``Q, q, A, b, G, h`` (forward and reverse).

    The solver is wrapped by ``custom_root(kkt_residual(*QP_FUNCTIONS, mu), has_aux=True,
    factored_solve=kkt_factored_solve)`` (``params`` a :class:`QPData`): a tangent or cotangent costs two
    triangular solves with the LU kept in the aux. ``opts`` are the keyword
    options of :func:`qp_interior_point`; with ``mu_target`` the relaxed residual
    ``lam * (Gx - h) + mu_target`` is differentiated.

    Example:
        >>> import numpy as np
        >>> f = lambda q: solve_qp(jnp.eye(2), q, jnp.zeros((0, 2)), jnp.zeros(0), jnp.eye(2), jnp.ones(2))[0].x
        >>> (np.round(jax.jit(jax.jacfwd(f))(jnp.array([-2.0, 0.0])), 6) + 0.0).tolist()  # x_1 = 1 on its bound
        [[0.0, 0.0], [0.0, -1.0]]
    """
    init = opts.pop("init", None)
    mu = opts.get("mu_target")

    @custom_root(kkt_residual(*QP_FUNCTIONS, mu=0.0 if mu is None else mu), has_aux=True,
                 factored_solve=kkt_factored_solve)
    def solver(init, data):
        return qp_interior_point(*data, init=init, **opts)

    return solver(init, QPData(Q, q, A, b, G, h))
