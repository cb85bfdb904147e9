"""Splitting conic solver: ADMM on the homogeneous self-dual embedding, finished by a Newton polish.

Solves the primal-dual pair (SCS convention)::

    min  c'x  s.t.  A x + s = b,  s in K          max  -b'y  s.t.  A'y + c = 0,  y in K*

with ``K`` described by :class:`~optdsl.runtime.solvers.cones.Cones`. The
homogeneous self-dual embedding (O'Donoghue, Chu, Parikh, Boyd 2016) asks for
``u = (x, y, tau)`` in ``C = R^n x K* x R_+`` with ``v = Q u`` in ``C*`` and
``u'v = 0``, where ``Q = [[0, A', c], [-A, 0, b], [-c', -b', 0]]`` is
skew-symmetric. ADMM there is Douglas-Rachford splitting of ``Q`` and the
normal cone of ``C``; in a diagonal metric ``R`` (constant on each cone, so
``Pi_C`` is unchanged) its relaxed iteration on ``z = u - R^{-1} v`` reads

    z+ = z + alpha ((R + Q)^{-1} R (2 Pi_C(z) - z) - Pi_C(z)),   u = Pi_C(z),  v = R (Pi_C(z) - z).

What makes it practical, as in SCS 3: Ruiz equilibration of ``(A, b, c)``;
one Cholesky factorisation of ``rho_x I + A' R_y^{-1} A`` (or of
``R_y + A A' / rho_x`` for wide ``A``) per metric, the ``tau`` row eliminated
by a rank-one correction; ``R_y = 1 / scale`` (a thousandth of that on
equality rows) with ``scale`` adapted to balance the relative primal and dual
residuals; safeguarded Anderson acceleration. ``tau > 0`` at the limit gives
the solution ``(x, y, s) / tau``; ``tau = 0`` a certificate of infeasibility
(``A'y = 0, b'y < 0``) or unboundedness (``A x + s = 0, c'x < 0``).

ADMM is first-order, so it is paused for a polish -- semi-smooth Newton steps
on the embedding residual at ``tau = 1`` with dense LU, the best point kept --
whenever the pattern of zero entries of ``(y, s)`` (the active set, the faces
of the cones) has settled and the residual is small; on a well-posed problem
the polish reaches rounding accuracy. Its point is taken only if it meets
``tol``; otherwise ADMM resumes exactly where it paused. The status comes from
explicit tests on the returned point, so SOLVED is never reported for a point
that fails them.
"""

from __future__ import annotations

from numbers import Real
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
from jax import lax

from optdsl.errors import ArgumentError
from optdsl.runtime.solvers.base import SolverInfo, check_count, per_instance, resolve_tol, run_if
from optdsl.runtime.solvers.cone_program import (RUNNING, ConicPoint, ScaledProblem, check_data, equilibrate,
                                                  evaluate, report, stop_code)
from optdsl.runtime.solvers.cones import Cones, project_dual_cone
from optdsl.runtime.solvers.embedding_polish import newton_polish
from optdsl.runtime.solvers.log import SPARSE, log_iteration, reported
from optdsl.runtime.status import NUMERICAL_ERROR

Array = jax.Array

#: Weight of ``x`` in the metric ``R``.
RHO_X = 1e-6
#: Initial ``scale`` (``R_y = 1 / scale``; tuned on random LPs, SOCPs, SDPs and exponential-cone
#: programs after this module's equilibration) and its bounds.
SCALE, MIN_SCALE, MAX_SCALE = 5.0, 1e-6, 1e6
#: ``R_y`` on equality rows is this factor times smaller.
ZERO_ROW_FACTOR = 1e-3
#: Steps between ``scale`` updates, and the residual-ratio imbalance that triggers one.
SCALE_MIN_ITERS, SCALE_TRIGGER = 25, 2.0
#: ADMM residual below which the polish is tried once the active pattern is stable; after a failed
#: attempt the bar drops tenfold, and a new pattern resets it.
FIRST_POLISH = 1e-2
#: Steps the pattern of zero / non-zero entries of ``(y, s)`` must stay unchanged before a polish.
STABLE_ITERS = 25
#: Polish attempts before ADMM is left to finish alone (plus one after ``maxiter``).
MAX_POLISH_ATTEMPTS = 12
#: Internal flags of an ADMM loop besides RUNNING (no stopping test met yet): paused for a polish; for a new metric.
_POLISH, _RESCALE = -2, -3


class _Factor(NamedTuple):
    """The solve by ``R + Q`` for one metric: ``R_y``, the Cholesky factor, ``g = (R + M)^{-1} (c, b)``."""

    rho_y: Array
    chol: Array
    g: Array
    denom: Array  # 1 + (c, b) . g


class _Loop(NamedTuple):
    """State of the ADMM loop (see :func:`_admm`)."""

    z: Array  # point the next step starts from (in the current metric)
    u: Array  # Pi_C(z)
    fallback: Array  # plain Douglas-Rachford step from the last accepted point
    ref_norm: Array  # fixed-point residual norm at the last accepted point
    was_aa: Array  # bool: z is an Anderson extrapolation still to be checked
    prev_z: Array
    prev_g: Array
    has_prev: Array  # bool: prev_z, prev_g hold the last accepted point and its residual
    dz: Array  # (memory, N) differences of accepted points
    dg: Array  # (memory, N) differences of their fixed-point residuals
    count: Array  # valid rows in dz, dg
    pos: Array  # next row to write
    scale: Array  # ahead of ``factor`` while the loop is paused with _RESCALE
    factor: _Factor
    log_ratio: Array  # sum of log(primal / dual relative residual) since the last scale update
    since: Array  # steps since the last scale update
    pattern: Array  # (2, m) bool: which entries of y^ and s^ are non-zero
    stable: Array  # steps the pattern has not changed
    bar: Array  # residual below which a stable pattern triggers a polish
    residual: Array  # optimality residual at z
    flag: Array  # RUNNING, _POLISH, _RESCALE, or the status whose test z passed
    k: Array  # Douglas-Rachford steps taken


class _Outer(NamedTuple):
    """State between ADMM segments (see :func:`conic_solve`)."""

    loop: _Loop
    z: Array  # result so far, identity metric
    u: Array  # Pi_C(z)
    attempts: Array  # polish attempts so far
    done: Array


# --------------------------------------------------------------------------- data, scaling, linear system


def _metric(p: ScaledProblem, scale: Array) -> Array:
    """``R_y``: ``1 / scale`` on cone rows, ``ZERO_ROW_FACTOR / scale`` on equality rows."""
    return jnp.where(p.zero_rows, ZERO_ROW_FACTOR, 1).astype(p.A.dtype) / scale


def _solve_block(p: ScaledProblem, rho_y: Array, chol: Array, rx: Array, ry: Array) -> tuple[Array, Array]:
    """Solve ``rho_x x + A'y = rx``, ``-A x + R_y y = ry`` (the ``R + M`` block) with the Cholesky factor."""
    m, n = p.A.shape
    rho_x = jnp.asarray(RHO_X, p.A.dtype)
    if n <= m:
        x = jsl.cho_solve((chol, True), rx - p.A.T @ (ry / rho_y))
        return x, (ry + p.A @ x) / rho_y
    y = jsl.cho_solve((chol, True), ry + p.A @ rx / rho_x)
    return (rx - p.A.T @ y) / rho_x, y


def _factor(p: ScaledProblem, scale: Array) -> _Factor:
    """Factorise the embedding's linear system for the metric of ``scale`` (Cholesky of the smaller side)."""
    m, n = p.A.shape
    rho_y = _metric(p, scale)
    rho_x = jnp.asarray(RHO_X, p.A.dtype)
    if n <= m:
        gram = rho_x * jnp.eye(n, dtype=p.A.dtype) + p.A.T @ (p.A / rho_y[:, None])
    else:
        gram = jnp.diag(rho_y) + p.A @ p.A.T / rho_x
    chol = jnp.linalg.cholesky(gram)
    gx, gy = _solve_block(p, rho_y, chol, p.c, p.b)
    return _Factor(rho_y, chol, jnp.concatenate([gx, gy]), 1 + jnp.dot(p.c, gx) + jnp.dot(p.b, gy))


def _solve_embedding(p: ScaledProblem, f: _Factor, w: Array) -> Array:
    """``(R + Q)^{-1} w`` by eliminating the ``tau`` row: ``tau = (w_tau + h'(R + M)^{-1} w_xy) / (1 + h'g)``."""
    n = p.A.shape[1]
    px, py = _solve_block(p, f.rho_y, f.chol, w[:n], w[n:-1])
    tau = (w[-1] + jnp.dot(p.c, px) + jnp.dot(p.b, py)) / f.denom
    return jnp.concatenate([jnp.concatenate([px, py]) - f.g * tau, tau[None]])


def _weights(p: ScaledProblem, f: _Factor) -> Array:
    """Diagonal of ``R`` over ``(x, y, tau)``."""
    n = p.A.shape[1]
    dtype = p.A.dtype
    return jnp.concatenate([jnp.full((n,), RHO_X, dtype), f.rho_y, jnp.ones((1,), dtype)])


def _project(p: ScaledProblem, cones: Cones, z: Array) -> Array:
    """``Pi_C(z)``: ``x`` free, ``y`` onto ``K*``, ``tau`` onto ``R_+``."""
    n = p.A.shape[1]
    return jnp.concatenate([z[:n], project_dual_cone(z[n:-1], cones), jnp.maximum(z[-1:], 0)])


def _embedding_point(p: ScaledProblem, z: Array, u: Array, weights: Array) -> tuple[Array, Array, Array, Array]:
    """``(x^, y^, s^, tau)`` of ``u = Pi_C(z)`` and ``v = R (u - z)``."""
    n = p.A.shape[1]
    v = weights * (u - z)
    return u[:n], u[n:-1], v[n:-1], u[-1]


# --------------------------------------------------------------------------- ADMM with Anderson acceleration


def _anderson(state: _Loop, g: Array, f: Array, weights: Array, memory: int, anderson_type: int) -> Array:
    """Anderson extrapolation ``f - (dZ - dG)' gamma`` from the stored differences, in the metric ``R``.

    Type II: ``gamma = argmin ||g - dG' gamma||_R``; type I: ``(dZ R dG') gamma = dZ R g``.
    Both with a small Tikhonov term; unfilled rows are masked out (``gamma = 0``).
    """
    slots = jnp.arange(memory)
    valid = jnp.mod(state.pos - 1 - slots, memory) < state.count
    dz = jnp.where(valid[:, None], state.dz, 0)
    dg = jnp.where(valid[:, None], state.dg, 0)
    left = (dg if anderson_type == 2 else dz) * weights
    gram = left @ dg.T
    eps, tiny = jnp.finfo(g.dtype).eps, jnp.finfo(g.dtype).tiny
    reg = jnp.sqrt(eps) * jnp.sqrt(jnp.sum(left * left / weights) * jnp.sum(dg * dg * weights))
    gram = gram + jnp.diag(jnp.where(valid, reg + tiny, 1))
    gamma = jnp.where(valid, jnp.linalg.solve(gram, left @ g), 0)
    return f - (dz - dg).T @ gamma


def _remetric(z: Array, u: Array, old_weights: Array, new_weights: Array) -> Array:
    """The same ``(u, v)`` in another metric: ``z' = u - R'^{-1} R (u - z)`` (so ``Pi(z') = u``)."""
    return u - old_weights * (u - z) / new_weights


def _admm_start(p: ScaledProblem, z0: Array, u0: Array, memory: int) -> _Loop:
    """Loop state at ``z0`` (identity metric, ``u0 = Pi_C(z0)``) with the initial ``scale``."""
    size, dtype = z0.shape[0], z0.dtype
    factor = _factor(p, jnp.asarray(SCALE, dtype))
    zeros = jnp.zeros((size,), dtype)
    mem = jnp.zeros((memory, size), dtype)
    int0 = jnp.zeros((), jnp.int32)
    return _Loop(_remetric(z0, u0, jnp.ones_like(z0), _weights(p, factor)), u0, zeros,
                 jnp.asarray(jnp.inf, dtype), jnp.asarray(False), zeros, zeros, jnp.asarray(False), mem, mem,
                 int0, int0, jnp.asarray(SCALE, dtype), factor, jnp.zeros((), dtype), int0,
                 jnp.zeros((2, p.A.shape[0]), bool), int0, jnp.asarray(FIRST_POLISH, dtype),
                 jnp.asarray(jnp.inf, dtype), jnp.asarray(RUNNING, jnp.int32), int0)


def _identity_point(p: ScaledProblem, st: _Loop) -> Array:
    """The loop's ``z`` in the identity metric (``z = u - v``)."""
    return _remetric(st.z, st.u, _weights(p, st.factor), jnp.ones_like(st.z))


def _admm(p: ScaledProblem, cones: Cones, start: _Loop, *, alpha: float, memory: int, anderson_type: int,
          tol: Array, cert_tol: Array, maxiter: int, active: Array, allow_polish: Array, verbose: bool) -> _Loop:
    """Safeguarded, Anderson-accelerated Douglas-Rachford with adaptive ``scale``, resumed from ``start``.

    The state's ``z`` is in the current metric ``R`` and ``u = Pi_C(z)`` travels
    with it so nothing is projected twice; returning the whole state lets a
    caller pause the iteration and resume it unchanged. Each step evaluates
    ``T(z) = z + alpha ((R + Q)^{-1} R (2 Pi(z) - z) - Pi(z))`` once. An Anderson
    point is kept only if its fixed-point residual does not exceed the one of
    the point it was extrapolated from; otherwise the plain step from that
    point is taken and the memory cleared.

    Stops, keeping ``z``, when ``z`` passes a status test (flag), or when the
    zero pattern of ``(y, s)`` -- the active set, the faces of the cones -- has
    held for ``STABLE_ITERS`` steps with the residual below ``bar`` (flag
    ``_POLISH``, only if ``allow_polish``; a new pattern lifts ``bar`` to
    ``FIRST_POLISH``). Stops after a plain step with a new ``scale`` (flag
    ``_RESCALE``, for :func:`_rescale`) when, ``SCALE_MIN_ITERS`` steps or more
    after the last change, the geometric mean of the primal/dual relative
    residual ratio is off by ``SCALE_TRIGGER``: ``scale`` is multiplied by its
    square root. The factorisation happens outside this loop, so under ``vmap``
    it is not repeated at every step. Stops after ``maxiter`` steps in total,
    or at once when ``active`` is false. ``verbose``: print the residual and the fixed-point
    residual norm every :data:`~.log.SPARSE` steps.
    """
    dtype = start.z.dtype

    def body(st: _Loop) -> _Loop:
        weights = _weights(p, st.factor)
        point = _embedding_point(p, st.z, st.u, weights)
        tests, _ = evaluate(p, *point)
        pattern = jnp.stack([point[1] != 0, point[2] != 0])
        changed = jnp.any(pattern != st.pattern)
        stable = jnp.where(changed, 0, st.stable + 1)
        bar = jnp.where(changed, jnp.maximum(st.bar, FIRST_POLISH), st.bar).astype(dtype)
        flag = stop_code(tests, tol, cert_tol)
        ready = allow_polish & (stable >= STABLE_ITERS) & (tests.solution <= bar)
        flag = jnp.where((flag == RUNNING) & ready, _POLISH, flag)
        f = st.z + alpha * (_solve_embedding(p, st.factor, weights * (2 * st.u - st.z)) - st.u)
        g = st.z - f
        gnorm = jnp.sqrt(jnp.sum(weights * g * g))  # T is averaged in the R-norm
        flag = jnp.where((flag == RUNNING) & ~jnp.isfinite(gnorm), NUMERICAL_ERROR, flag)
        reject = st.was_aa & ~(gnorm <= st.ref_norm)
        nxt = st._replace(fallback=f, ref_norm=gnorm, was_aa=jnp.asarray(memory > 0), prev_z=st.z, prev_g=g,
                          has_prev=jnp.asarray(True), pattern=pattern, stable=stable, bar=bar,
                          residual=tests.solution, flag=flag, k=st.k + 1)
        candidate = f
        if memory:
            push = ~reject & st.has_prev
            nxt = nxt._replace(
                dz=jnp.where(push, st.dz.at[st.pos].set(st.z - st.prev_z), st.dz),
                dg=jnp.where(push, st.dg.at[st.pos].set(g - st.prev_g), st.dg),
                count=jnp.where(reject, 0, jnp.where(push, jnp.minimum(st.count + 1, memory), st.count)),
                pos=jnp.where(push, jnp.mod(st.pos + 1, memory), st.pos))
            candidate = _anderson(nxt, g, f, weights, memory, anderson_type)
            candidate = jnp.where(jnp.all(jnp.isfinite(candidate)), candidate, f)

        log_ratio, since = st.log_ratio + tests.log_ratio, st.since + 1
        mean = log_ratio / since
        rescale = (flag == RUNNING) & (since >= SCALE_MIN_ITERS) & (jnp.abs(mean) > np.log(SCALE_TRIGGER))
        scale = jnp.where(rescale, jnp.clip(st.scale * jnp.exp(mean / 2), MIN_SCALE, MAX_SCALE), st.scale)
        # A rescale continues from the plain step: an unchecked Anderson point is not carried across metrics.
        z = jnp.where(reject, st.fallback, jnp.where(rescale, f, candidate))
        nxt = nxt._replace(
            z=z, u=_project(p, cones, z), fallback=jnp.where(reject, st.fallback, f),
            ref_norm=jnp.where(reject, st.ref_norm, gnorm), was_aa=nxt.was_aa & ~reject, has_prev=~reject,
            scale=scale, log_ratio=log_ratio, since=since, flag=jnp.where(rescale, _RESCALE, flag))
        stopped = flag != RUNNING
        if verbose:
            log_iteration("conic_solve", nxt.k, active=cond(st), every=SPARSE, residual=tests.solution,
                          fixed_point=gnorm)
        kept = st._replace(flag=flag, residual=tests.solution, bar=bar)
        return jax.tree_util.tree_map(lambda old, new: jnp.where(stopped, old, new), kept, nxt)

    def cond(st: _Loop) -> Array:
        return active & (st.flag == RUNNING) & (st.k < maxiter)

    return lax.while_loop(cond, body, start._replace(flag=jnp.asarray(RUNNING, jnp.int32)))


def _rescale(p: ScaledProblem, st: _Loop) -> _Loop:
    """Factorise for the loop's new ``scale`` and write ``z`` in the new metric; clear the memories."""
    factor = _factor(p, st.scale)
    zero = jnp.zeros((), jnp.int32)
    return st._replace(z=_remetric(st.z, st.u, _weights(p, st.factor), _weights(p, factor)), factor=factor,
                       was_aa=jnp.asarray(False), has_prev=jnp.asarray(False), count=zero,
                       log_ratio=jnp.zeros_like(st.log_ratio), since=zero)


# --------------------------------------------------------------------------- public solver


def _initial_point(p: ScaledProblem, init: ConicPoint | None) -> Array:
    """Scaled embedding point ``(x^, y^ - s^, 1)`` of a warm start, or ``(0, 0, 1)``."""
    m, n = p.A.shape
    dtype = p.A.dtype
    if init is None:
        return jnp.zeros((n + m + 1,), dtype).at[-1].set(1)
    x, y, s = (jnp.asarray(v, dtype) for v in init)
    if x.shape != (n,) or y.shape != (m,) or s.shape != (m,):
        raise ArgumentError(f"init must be a ConicPoint with x of shape ({n},), y and s of shape ({m},), "
                         f"got {x.shape}, {y.shape}, {s.shape}")
    x_hat = p.sigma_b * x / p.e
    zy = p.sigma_c * y / p.d - p.sigma_b * p.d * s
    return jnp.concatenate([x_hat, zy, jnp.ones((1,), dtype)])


def _check_options(alpha, anderson, anderson_type, maxiter, polish) -> None:
    check_count("maxiter", maxiter, 1)
    check_count("anderson", anderson, 0)
    check_count("polish", polish, 0)
    if anderson_type not in (1, 2):
        raise ArgumentError(f"anderson_type must be 1 or 2, got {anderson_type!r}")
    if not isinstance(alpha, Real) or not 0 < alpha < 2:
        raise ArgumentError(f"alpha (over-relaxation) must be a number in (0, 2), got {alpha!r}")


def conic_solve(A: jax.typing.ArrayLike, b: jax.typing.ArrayLike, c: jax.typing.ArrayLike, cones: Cones, *,
                tol: float | None = None, maxiter: int = 5000, init: ConicPoint | None = None,
                alpha: float = 1.5, anderson: int = 10, anderson_type: int = 2,
                polish: int = 10, verbose: bool = False) -> tuple[ConicPoint, SolverInfo]:
    """Solve ``min c'x s.t. A x + s = b, s in K`` and its dual; returns ``(ConicPoint(x, y, s), info)``.

    ``A``: ``(m, n)``, ``b``: ``(m,)``, ``c``: ``(n,)`` with ``m = cones.dim``.
    ADMM on the homogeneous self-dual embedding (see the module docstring),
    paused for polish attempts of up to ``polish`` Newton passes each
    (``polish=0``: ADMM alone, which is slow to reach a tight ``tol``).
    ``maxiter``: ADMM steps in all. ``alpha``: over-relaxation in ``(0, 2)``.
    ``anderson``: Anderson memory (0 turns acceleration off), ``anderson_type``
    1 or 2. ``init``: a warm-start :class:`ConicPoint`. ``tol`` defaults to
    :func:`~optdsl.runtime.solvers.base.default_tol` of the data's dtype.

    ``info.status``: SOLVED when the relative residual (primal, dual and gap,
    see :class:`Tests`) is at most ``tol``; INFEASIBLE / UNBOUNDED when a
    certificate passes its scale-free test at ``tol ** 0.75`` (a looser test lets ADMM's
    early iterates on badly scaled rows pass for certificates of feasible problems); MAX_ITERATIONS
    after ``maxiter`` ADMM steps otherwise; NUMERICAL_ERROR for non-finite
    values. ``info.residual`` is the optimality residual, or the certificate's.
    Pure JAX (``jit``/``vmap`` over data with the same ``cones``; under ``vmap`` a
    loop over the instances on a CPU, see :func:`~optdsl.runtime.solvers.base.per_instance`),
    keeps the dtype. The returned point is not differentiable here (the loops are
    ``while_loop``s); differentiate through
    :func:`~optdsl.runtime.solvers.conic_diff.solve_conic_diff` instead. ``verbose``: print the
    residual every :data:`~optdsl.runtime.solvers.log.SPARSE` ADMM steps and the final status.

    Example:
        >>> A = jnp.array([[-1.0], [1.0]])  # x >= 1 written as -x + s = -1, and x <= 3
        >>> point, info = conic_solve(A, jnp.array([-1.0, 3.0]), jnp.array([1.0]), Cones(nonneg=2))
        >>> round(float(point.x[0]), 6), int(info.status)
        (1.0, 0)
    """
    A, b, c = check_data(A, b, c, cones)
    _check_options(alpha, anderson, anderson_type, maxiter, polish)
    dtype = A.dtype
    tol = jnp.asarray(resolve_tol(tol, dtype), dtype)

    # Batched, one instance after another on a CPU: each runs its own ADMM steps and pauses.
    @per_instance
    def run(A, b, c, init, tol):
        cert_tol = tol ** 0.75
        p = equilibrate(A, b, c, cones)
        z0 = _initial_point(p, init)

        def admm(state, active, allow_polish):
            return _admm(p, cones, state, alpha=alpha, memory=anderson, anderson_type=anderson_type,
                         tol=tol, cert_tol=cert_tol, maxiter=maxiter, active=active, allow_polish=allow_polish,
                         verbose=verbose)

        u0 = z0 if init is None else _project(p, cones, z0)  # (0, 0, 1) is in C already

        def segment(st: _Outer) -> _Outer:
            """Resume ADMM until a status test, ``maxiter``, a new metric or a polish trigger; act on the pause.

            A polished point is kept if it meets ``tol``, or after ``maxiter`` if it is
            better than ADMM's; otherwise ADMM resumes exactly where it paused, with
            the bar ten times lower.
            """
            loop = admm(st.loop, ~st.done, (st.attempts < MAX_POLISH_ATTEMPTS) & (polish > 0))
            z = _identity_point(p, loop)
            out_of_steps = (loop.flag == RUNNING) & (loop.k >= maxiter)
            finished = (loop.flag != RUNNING) & (loop.flag != _POLISH) & (loop.flag != _RESCALE)
            # run_if, not lax.cond: under vmap a cond runs both branches for every instance, and the
            # re-factorisation and the polish (each batched LAPACK work) must not run side by side.
            loop = run_if(~st.done & (loop.flag == _RESCALE), lambda loop: _rescale(p, loop), (loop,), loop)
            if not polish:
                return _Outer(loop, z, loop.u, st.attempts, st.done | finished | out_of_steps)
            attempt = ~st.done & ((loop.flag == _POLISH) | out_of_steps)
            z_new, u_new = run_if(attempt, lambda z: newton_polish(p, cones, z, polish), (z,), (z, loop.u))
            polished = evaluate(p, *_embedding_point(p, z_new, u_new, jnp.ones_like(z_new)))[0].solution
            solved = polished <= tol
            keep = attempt & (solved | (out_of_steps & (polished < loop.residual)))
            loop = loop._replace(bar=jnp.where(loop.flag == _POLISH, loop.residual / 10, loop.bar).astype(dtype))
            return _Outer(loop, jnp.where(keep, z_new, z), jnp.where(keep, u_new, loop.u), st.attempts + attempt,
                          st.done | finished | out_of_steps | (keep & solved))

        outer = _Outer(_admm_start(p, z0, u0, anderson), z0, u0, jnp.zeros((), jnp.int32), jnp.asarray(False))
        end = lax.while_loop(lambda st: ~st.done, segment, outer)
        failed = (~jnp.all(jnp.isfinite(end.z)) | (end.loop.flag == NUMERICAL_ERROR) | ~jnp.all(jnp.isfinite(p.A0))
                  | ~jnp.all(jnp.isfinite(p.b0)) | ~jnp.all(jnp.isfinite(p.c0)))
        point, info = report(p, *_embedding_point(p, end.z, end.u, jnp.ones_like(end.z)), end.loop.k, failed, tol,
                             cert_tol)
        return point, reported(verbose, "conic_solve", info)

    return run(A, b, c, init, tol)
