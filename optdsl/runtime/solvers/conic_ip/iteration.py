"""Primal-dual interior point for cone programs: Mehrotra predictor-corrector on the homogeneous embedding.

Solves the pair of :mod:`~optdsl.runtime.solvers.cone_program` (SCS convention)::

    min  c'x  s.t.  A x + s = b,  s in K          max  -b'y  s.t.  A'y + c = 0,  y in K*

on the homogeneous self-dual embedding of Clarabel (Goulart & Chen 2024) without
the quadratic term: ``(x, y, s, tau, kappa)`` with ``s in K``, ``y in K*``,
``tau, kappa > 0`` and residuals::

    r_x   = A'y + c tau
    r_z   = A x + s - b tau
    r_tau = c'x + b'y + kappa

driven to zero together with the complementarity ``mu = (s'y + tau kappa) / (nu + 1)``
(``nu`` the degree of ``K``). A solution has ``tau > 0`` and gives ``(x, y, s) / tau``;
``tau -> 0`` with ``kappa > 0`` gives a certificate of infeasibility or
unboundedness instead. Each iteration scales the cones (Nesterov-Todd for the
symmetric cones, the primal-dual scaling of Dahl & Andersen for the exponential and
power cones), factorises one Newton system (:mod:`~optdsl.runtime.solvers.conic_ip.newton`)
and solves it for the ``tau`` column, the affine (predictor) direction and
Mehrotra's combined direction with centring ``sigma = (1 - alpha_aff)^3``. The
iteration only talks to the cones through the interface of
:mod:`~optdsl.runtime.solvers.conic_ip.cone`.

The data are Ruiz-equilibrated first, and the status comes from the stopping tests of
:mod:`~optdsl.runtime.solvers.cone_program` on the original data, which ADMM uses too.
A point within ``sqrt(tol)`` of a solution -- where the iteration first gets there, and
where it ends, solved, or stalled at the limit of the arithmetic near the boundary of an
exponential cone -- is finished by a Newton polish on the embedding residual, taken only
where it passes the solution test, so that a solution is exact to rounding, not only to
``tol``, where the problem is regular; the iteration goes on where the first polish fails.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from optdsl.errors import ArgumentError
from optdsl.runtime.solvers.base import SolverInfo, check_count, per_instance, resolve_tol, run_if
from optdsl.runtime.solvers.cones import Cones
from optdsl.runtime.solvers.cone_program import (RUNNING, ConicPoint, ScaledProblem, Tests, check_data, equilibrate,
                                                  evaluate, relative, report, stop_code)
from optdsl.runtime.solvers.embedding_polish import newton_polish
from optdsl.runtime.solvers.conic_ip.newton import NewtonSystem, newton_system
from optdsl.runtime.solvers.conic_ip.product import ProductCone, product_cone
from optdsl.runtime.solvers.interior_point.core import select
from optdsl.runtime.solvers.log import log_iteration, reported
from optdsl.runtime.status import INFEASIBLE, NUMERICAL_ERROR, SOLVED, UNBOUNDED

Array = jax.Array

#: Fraction of the distance to the boundary of the cones a step goes.
STEP_FRACTION = 0.99
#: A combined step shorter than this is a step that could not be taken.
MIN_STEP = 1e-8
#: The iteration has stalled when neither its progress measure (the smallest of the solution and certificate
#: residuals) nor its complementarity ``mu`` has halved in this many steps.
STALL_ITERS = 5
#: Newton passes of the final polish.
POLISH_STEPS = 10
#: Largest cone program, in unknowns ``n + m`` of the embedding, whose batches a CPU solves lock-step
#: (:func:`~optdsl.runtime.solvers.base.per_instance`); larger ones run instance by instance. Measured with
#: ``python -m benchmarks.lockstep --family socp`` (Markowitz SOCPs, forward and backward, one CPU thread, batches
#: of 4 to 64): lock-step was 1.5-2.7x faster at 19 unknowns, 0.85-0.95x as fast at 34, 1.1-1.2x faster at 64
#: and 1.2-2.6x slower from 94 on, where the instances' iteration counts spread (the batch runs as many steps as
#: the slowest). The limit stays below the size that lost.
LOCKSTEP_MAX_SIZE = 30


class _Iterate(NamedTuple):
    """A point of the embedding on the equilibrated data; ``s`` has all ``m`` rows (zero on the zero cone's)."""

    x: Array
    y: Array
    s: Array
    tau: Array
    kappa: Array
    code: Array  # RUNNING, or the status whose test the point passed, or NUMERICAL_ERROR
    solved: Array  # bool: the point passes the solution test (its code may still be RUNNING)
    progress: Array  # the smallest of the solution and certificate residuals (how close to any stop)
    k: Array  # iterations taken
    tests: Array  # the stopping tests at this point (a Tests stacked: one array to select), which the report reads


class _Direction(NamedTuple):
    dx: Array
    dy: Array
    ds: Array
    dtau: Array
    dkappa: Array


def _assess(p: ScaledProblem, st: _Iterate, tol: Array, cert_tol: Array) -> _Iterate:
    """``st`` with its ``code`` (a status, or RUNNING; NUMERICAL_ERROR for non-finite values) and ``solved``.

    A point that passes the solution test stops the iteration only once its complementarity
    ``s'y`` is below ``tol`` as well (relative, like the gap): an interior point's ``s'y`` is
    positive, and the gap ``c'x + b'y`` can be smaller by the cancellation of residual terms.
    """
    tests, (x, y, s) = evaluate(p, st.x, st.y, st.s, st.tau)
    finite = jnp.all(jnp.isfinite(jnp.concatenate([st.x, st.y, st.s, st.tau[None], st.kappa[None]])))
    code = stop_code(tests, tol, cert_tol)
    inv_tau = 1 / st.tau
    complementarity = relative(jnp.abs(s @ y) * inv_tau ** 2, jnp.abs(p.c0 @ x) * inv_tau, jnp.abs(p.b0 @ y) * inv_tau)
    solved = finite & (code == SOLVED)
    code = jnp.where(solved & ~(complementarity <= tol), RUNNING, code)
    progress = jnp.minimum(tests.solution, jnp.minimum(tests.infeasible, tests.unbounded))
    return st._replace(code=jnp.where(finite, code, NUMERICAL_ERROR).astype(jnp.int32), solved=solved,
                       progress=jnp.where(finite, progress, jnp.inf), tests=jnp.stack(tests))


def _shifted(cone: ProductCone, v: Array, floor: Array) -> Array:
    """``v`` (cone rows) moved along ``e`` so that its margin is at least ``floor``."""
    return v + jnp.maximum(floor - cone.margin(v), 0) * cone.unit(v.dtype)


def _unit_point(p: ScaledProblem, cone: ProductCone) -> _Iterate:
    """``x = 0``, ``s = y = e`` on the cone rows (zero on the zero cone's), ``tau = kappa = 1``; not assessed.

    The start with a non-symmetric cone, and the point whose scaling is the unit one (its ``mu`` is 1), at which
    the first step solves for the symmetric cold start (:func:`_cold_start`).
    """
    n = p.A.shape[1]
    dtype = p.A.dtype
    one = jnp.ones((), dtype)
    inf = jnp.asarray(jnp.inf, dtype)
    ey = jnp.concatenate([jnp.zeros((cone.zero,), dtype), cone.unit(dtype)])
    return _Iterate(jnp.zeros((n,), dtype), ey, ey, one, one, jnp.asarray(RUNNING, jnp.int32), jnp.asarray(False), inf,
                    jnp.zeros((), jnp.int32), jnp.stack(Tests(inf, inf, inf, 0 * one)))


def _cold_start(cone: ProductCone, unit: _Iterate, x: Array, r: Array, y: Array) -> _Iterate:
    """The start of symmetric cones without a warm start, from the Newton solves at the unit scaling
    (``unit`` from :func:`_unit_point`): ``x, r`` of the right-hand side ``(0, b)`` and ``y`` of ``(-c, 0)``.

    These are the least-squares ``s = -r = b - A x`` and the least-norm ``y`` with ``A'y = -c``, shifted inside
    the cones (margin 1 where it was below ``sqrt(eps)``); the solves keep the zero cone's rows exact.
    ``tau = kappa = 1``.
    """
    dtype = x.dtype
    one = jnp.ones((), dtype)
    eps = jnp.finfo(dtype).eps

    def shift(v):
        needed = cone.margin(v) < jnp.sqrt(eps) * jnp.maximum(1, jnp.max(jnp.abs(v), initial=0))
        return jnp.where(needed, _shifted(cone, v, one), v)

    z = cone.zero
    return unit._replace(x=x, s=jnp.concatenate([jnp.zeros((z,), dtype), shift(-r[z:])]),
                         y=jnp.concatenate([y[:z], shift(y[z:])]))


def _scaled_init(p: ScaledProblem, init: ConicPoint) -> tuple[Array, Array, Array]:
    """``init`` on the equilibrated data."""
    dtype = p.A.dtype
    x, y, s = (jnp.asarray(v, dtype) for v in init)
    return p.sigma_b * x / p.e, p.sigma_c * y / p.d, p.sigma_b * p.d * s


def _warm_start(p: ScaledProblem, cone: ProductCone, init: ConicPoint, residual: Array, unit: _Iterate) -> _Iterate:
    """``init`` on the equilibrated data with ``s`` and ``y`` shifted inside the cones by a margin of
    ``max(residual, sqrt(eps))`` times their size (``residual``: how far ``init`` is from a stop), ``tau = 1``
    and ``kappa`` the complementarity per degree."""
    dtype = p.A.dtype
    x, y, s = _scaled_init(p, init)
    floor = jnp.maximum(residual, jnp.sqrt(jnp.finfo(dtype).eps))

    def shift(v):
        return _shifted(cone, v, floor * jnp.maximum(1, jnp.max(jnp.abs(v), initial=0)))

    s = jnp.concatenate([jnp.zeros((cone.zero,), dtype), shift(s[cone.zero:])])
    y = jnp.concatenate([y[:cone.zero], shift(y[cone.zero:])])
    kappa = jnp.maximum(s @ y / max(cone.degree, 1), floor)
    return unit._replace(x=x, y=y, s=s, kappa=kappa)


def _complementarity(cone: ProductCone, st: _Iterate) -> Array:
    """``mu = (s'y + tau kappa) / (nu + 1)`` over the cone rows."""
    z = cone.zero
    return (st.s[z:] @ st.y[z:] + st.tau * st.kappa) / (cone.degree + 1)


def _step(p: ScaledProblem, cone: ProductCone, newton: NewtonSystem, st: _Iterate, first: Array, tol: Array,
          cert_tol: Array, log_when: Array | None) -> _Iterate:
    """One Mehrotra predictor-corrector step (see the module docstring), or where ``first`` holds the start.

    The Newton system is factorised once and solved in one loop of passes, so that its solve is compiled once:
    the predictor and the corrector, each for the ``tau`` column and its own right-hand side together, or,
    for the first step (from :func:`_unit_point`), the two solves of the symmetric :func:`_cold_start`
    (the unit point itself with a non-symmetric cone). ``log_when``: print the step's residual, ``mu`` and
    step length where it holds (False for an instance ``vmap`` steps after its loop stopped); None prints nothing.
    """
    A, b, c = p.A, p.b, p.c
    z = cone.zero
    dtype = A.dtype
    x, y, s, tau, kappa = st.x, st.y, st.s, st.tau, st.kappa
    sc, yc = s[z:], y[z:]
    r_x = A.T @ y + c * tau
    r_z = A @ x + s - b * tau
    r_tau = c @ x + b @ y + kappa
    mu = _complementarity(cone, st)
    w = cone.scaling(sc, yc, mu)
    solve = jax.vmap(newton(w, st.code == RUNNING))
    zeros = jnp.zeros((z,), dtype)

    def direction(i: Array, carry: tuple[_Direction, Array, tuple]) -> tuple[_Direction, Array, tuple]:
        """Pass ``i``: 1 the predictor (``eta = 1``), 2 Mehrotra's combined direction from the predictor's step
        and its longest step ``carry``, 0 the cold start's solves; returns the direction with its longest step,
        and the pass's Newton solutions."""
        affine, longest, _ = carry
        corrector = i == 2
        sigma = jnp.where(corrector, (1 - jnp.minimum(longest, 1)) ** 3, 0)
        eta = 1 - sigma
        d_s = jnp.where(corrector, cone.corrector(w, sc, yc, affine.ds[z:], affine.dy[z:], sigma * mu),
                        cone.affine_ds(w, sc, yc))
        d_kappa = tau * kappa + jnp.where(corrector, affine.dtau * affine.dkappa, 0) - sigma * mu
        offset = cone.ds_offset(w, sc, yc, d_s)
        rhs_x, rhs_z = jnp.stack([-c, -eta * r_x]), jnp.stack([b, -eta * r_z + jnp.concatenate([zeros, offset])])
        cold = i == 0
        rhs_x = jnp.where(cold, jnp.stack([jnp.zeros_like(c), -c]), rhs_x)
        rhs_z = jnp.where(cold, jnp.stack([b, jnp.zeros_like(b)]), rhs_z)
        solutions = solve(rhs_x, rhs_z)
        (x1, x2), (y1, y2) = solutions
        # The tau coefficient is -y1'H y1 - kappa / tau < 0 in exact arithmetic; rounding may only shrink it.
        den = jnp.minimum(c @ x1 + b @ y1 - kappa / tau, -kappa / tau)
        dtau = (-eta * r_tau - c @ x2 - b @ y2 + d_kappa / tau) / den
        dx = x2 + dtau * x1
        # ds from the linearised primal equation rather than ds = -offset - H dy: the residuals then fall by
        # exactly the step, while rounding in W (near the boundary) only perturbs the complementarity.
        ds = jnp.concatenate([zeros, (-eta * r_z - A @ dx + b * dtau)[z:]])
        d = _Direction(dx, y2 + dtau * y1, ds, dtau, -(d_kappa + kappa * dtau) / tau)
        ratios = jnp.stack([tau, kappa]) / -jnp.stack([d.dtau, d.dkappa])
        scalars = jnp.min(jnp.where(ratios > 0, ratios, jnp.inf))
        return d, jnp.minimum(cone.step_length(w, sc, yc, d.ds[z:], d.dy[z:]), scalars), solutions

    n, m = x.shape[0], y.shape[0]
    none = (jnp.zeros((2, n), dtype), jnp.zeros((2, m), dtype))
    start = (_Direction(jnp.zeros_like(x), jnp.zeros_like(y), jnp.zeros_like(s), tau * 0, tau * 0), tau * 0, none)
    passes = jnp.where(first, 0, 1), jnp.where(first, int(cone.symmetric), 3)
    d, longest, ((x0, _), (r0, y0)) = lax.fori_loop(*passes, direction, start)
    alpha = jnp.minimum(STEP_FRACTION * longest, 1)
    stepped = _Iterate(x + alpha * d.dx, y + alpha * d.dy, s + alpha * d.ds, tau + alpha * d.dtau,
                       kappa + alpha * d.dkappa, st.code, st.solved, st.progress, st.k + 1, st.tests)
    if cone.symmetric:
        stepped = lax.cond(first, lambda: _cold_start(cone, st, x0, r0, y0), lambda: stepped)
    else:
        stepped = select(first, st, stepped)
    new = _assess(p, stepped, tol, cert_tol)
    # A step that is not finite or too short to count is not taken: the previous point is kept.
    failed = ~first & ((new.code == NUMERICAL_ERROR) | ((new.code == RUNNING) & ~(alpha >= MIN_STEP)))
    new = select(failed, st._replace(k=new.k), new)
    if log_when is not None:
        log_iteration("conic_ip_solve", new.k, active=log_when & ~first, residual=new.progress,
                      mu=_complementarity(cone, new), step=alpha)
    return new._replace(code=jnp.where(failed, NUMERICAL_ERROR, new.code).astype(jnp.int32))


def _iterate(p: ScaledProblem, cone: ProductCone, newton: NewtonSystem, init: ConicPoint | None, tol: Array,
             cert_tol: Array, maxiter: int, verbose: bool, polish: Callable[[Array], _Iterate]) -> _Iterate:
    """Steps from the start until a stopping test, a failed step, a stall or ``maxiter``, with ``polish``
    (:func:`_polished`) handed the point the steps stop on.

    The first pass of the loop makes the cold start (:func:`_step`). With a warm start ``init``: ``init`` as
    given, and final, when it passes the solution test; else it is shifted inside the cones
    (:func:`_warm_start`) and taken instead of the cold start where it is closer to a stop.
    The steps first pause where the progress measure falls to ``sqrt(tol)`` (:func:`_near`): there the active
    set is settled on a regular problem, and the polish, a Newton method on the embedding residual, finishes
    in two or three passes what the last few steps would do at greater cost (their condensed Newton matrix is
    ill-conditioned, so they factorise the quasi-definite system instead). Where the polished point fails the
    solution test the steps resume, and the point they end on is polished again.
    Without a polished solution, returns the final iterate, or the last one that passed the solution test when
    the final one does not (further steps can lose accuracy at the limit of the arithmetic,
    or fail). The iteration has stalled after :data:`STALL_ITERS` steps in which neither
    the progress measure nor the complementarity ``mu`` halved (NUMERICAL_ERROR).
    """
    unit = _unit_point(p, cone)
    start, first, warm = unit, jnp.asarray(True), None
    if init is not None:
        x, y, s = _scaled_init(p, init)
        raw = _assess(p, unit._replace(x=x, y=y, s=s, kappa=jnp.zeros_like(unit.kappa)), tol, cert_tol)
        warm = _assess(p, _warm_start(p, cone, init, raw.progress, unit), tol, cert_tol)
        start = select(raw.solved, raw._replace(code=jnp.asarray(SOLVED, jnp.int32)), unit)
        first = ~raw.solved

    def step(carry: tuple[_Iterate, _Iterate, Array, Array, Array]) -> tuple[_Iterate, _Iterate, Array, Array, Array]:
        st, kept, best, since, first = carry  # best: smallest (progress, mu) so far; since: steps since either halved
        new = _step(p, cone, newton, st, first, tol, cert_tol,
                    ((st.code == RUNNING) & (st.k < maxiter)) if verbose else None)
        if warm is not None:
            new = select(first & (warm.progress < new.progress), warm, new)
        now = jnp.stack([new.progress, _complementarity(cone, new)])
        halved = now <= best / 2
        since = jnp.where(first | jnp.any(halved), 0, since + 1)
        stalled = (new.code == RUNNING) & (since >= STALL_ITERS)
        new = new._replace(code=jnp.where(stalled, NUMERICAL_ERROR, new.code).astype(jnp.int32))
        return new, select(new.solved, new, kept), jnp.where(first | halved, now, best), since, jnp.asarray(False)

    def running(st: _Iterate) -> Array:
        return (st.code == RUNNING) & (st.k < maxiter)

    def phase(outer: tuple) -> tuple:
        """Steps until the pause (the first phase) or the end, then the polish where :func:`_near`."""
        carry, paused, _, _ = outer
        carry = lax.while_loop(lambda carry: running(carry[0]) & (paused | ~_near(carry[0], tol)), step, carry)
        st, kept = carry[0], carry[1]
        end = select(st.solved | ~kept.solved, st, kept._replace(k=st.k))
        # Only the embedding point enters the polish (each operand of run_if is masked, a kernel apiece).
        polished = run_if(_near(end, tol), polish, (jnp.concatenate([end.x, end.y - end.s, end.tau[None]]),),
                          end._replace(solved=jnp.asarray(False)))
        end = select(polished.solved, polished._replace(code=jnp.asarray(SOLVED, jnp.int32), k=end.k), end)
        return carry, jnp.asarray(True), polished.solved | ~running(st), end

    inf = jnp.full((2,), jnp.inf, p.A.dtype)
    carry = (start, start, inf, jnp.zeros((), jnp.int32), first)
    return lax.while_loop(lambda outer: ~outer[2], phase, (carry, jnp.asarray(False), jnp.asarray(False), start))[3]


def _near(st: _Iterate, tol: Array) -> Array:
    """``st`` is worth polishing: it passes the solution test or its progress measure is within ``sqrt(tol)``,
    and it is not a certificate of infeasibility or unboundedness."""
    return (st.solved | (st.progress <= jnp.sqrt(tol))) & (st.code != INFEASIBLE) & (st.code != UNBOUNDED)


def _polished(p: ScaledProblem, cones: Cones, cone: ProductCone, z: Array, tol: Array, cert_tol: Array) -> _Iterate:
    """The embedding point ``z = (x, y - s, tau)`` after the Newton polish
    (:mod:`~optdsl.runtime.solvers.embedding_polish`), assessed; taken where it passes the solution test.

    An interior point ends a distance of order ``mu`` inside the cones: a slack and its multiplier that
    should both vanish may both be ``1e-5``, which blurs the active set the derivatives are taken on. The
    polish lands on the point where they are exactly complementary (to rounding); it also rescues an
    iteration that stalled just short of ``tol`` at the limit of its arithmetic (an exponential cone's
    barrier near its boundary).
    """
    n = p.A.shape[1]
    z_new, u_new = newton_polish(p, cones, z, POLISH_STEPS)
    y = u_new[n:-1]
    unit = _unit_point(p, cone)
    return _assess(p, unit._replace(x=z_new[:n], y=y, s=y - z_new[n:-1], kappa=0 * unit.kappa), tol, cert_tol)


def _check_init(init: ConicPoint | None, m: int, n: int) -> None:
    if init is None:
        return
    shapes = tuple(jnp.shape(v) for v in init)
    if len(shapes) != 3 or shapes != ((n,), (m,), (m,)):
        raise ArgumentError(f"init must be a ConicPoint with x of shape ({n},), y and s of shape ({m},), "
                            f"got shapes {shapes}")


def conic_ip_solve(A: jax.typing.ArrayLike, b: jax.typing.ArrayLike, c: jax.typing.ArrayLike, cones: Cones, *,
                   tol: float | None = None, maxiter: int = 100,
                   init: ConicPoint | None = None, verbose: bool = False) -> tuple[ConicPoint, SolverInfo]:
    """Solve ``min c'x s.t. A x + s = b, s in K`` and its dual by the interior point of the module docstring.

    Same arguments, return and statuses as :func:`~optdsl.runtime.solvers.conic.conic_solve`:
    ``A``: ``(m, n)``, ``b``: ``(m,)``, ``c``: ``(n,)`` with ``m = cones.dim`` (every
    cone of :class:`~optdsl.runtime.solvers.cones.Cones`). ``maxiter``: interior-point
    iterations. ``init``: a warm-start :class:`~optdsl.runtime.solvers.conic.ConicPoint`,
    returned as is when it already passes the solution test. ``info.status``: SOLVED
    when the relative residual of the returned point is at most ``tol`` (default
    :func:`~optdsl.runtime.solvers.base.default_tol` of the dtype); INFEASIBLE /
    UNBOUNDED when its certificate passes the scale-free test at ``tol ** 0.75``;
    NUMERICAL_ERROR for non-finite values, a step that could not be taken or an
    iteration that stalled; MAX_ITERATIONS otherwise. Pure JAX (``jit``, ``vmap`` over
    data with the same ``cones``; under ``vmap`` a loop over the instances on a CPU, or one lock-step batch up to
    :data:`LOCKSTEP_MAX_SIZE` unknowns, see :func:`~optdsl.runtime.solvers.base.per_instance`), keeps the dtype. Not
    differentiable itself (``while_loop``s). ``verbose``: print each iteration's residual (the smallest
    of the solution and certificate residuals), complementarity ``mu`` and step length, and the final status.

    Example:
        >>> A = jnp.array([[-1.0], [1.0]])  # x >= 1 written as -x + s = -1, and x <= 3
        >>> point, info = conic_ip_solve(A, jnp.array([-1.0, 3.0]), jnp.array([1.0]), Cones(nonneg=2))
        >>> round(float(point.x[0]), 6), int(info.status)
        (1.0, 0)
    """
    A, b, c = check_data(A, b, c, cones)
    check_count("maxiter", maxiter, 1)
    _check_init(init, *A.shape)
    dtype = A.dtype
    tol = jnp.asarray(resolve_tol(tol, dtype), dtype)
    cone = product_cone(cones)

    @functools.partial(per_instance, size=sum(A.shape), limit=LOCKSTEP_MAX_SIZE)
    def run(A, b, c, init, tol):
        cert_tol = tol ** 0.75
        p = equilibrate(A, b, c, cones)
        end = _iterate(p, cone, newton_system(p.A, cone), init, tol, cert_tol, maxiter, verbose,
                       lambda z: _polished(p, cones, cone, z, tol, cert_tol))
        point, info = report(p, end.x, end.y, end.s, end.tau, end.k, end.code == NUMERICAL_ERROR, tol, cert_tol,
                             Tests(*end.tests))
        return point, reported(verbose, "conic_ip_solve", info)

    return run(A, b, c, init, tol)
