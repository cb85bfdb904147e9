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

from optdsl.errors import ArgumentError, ArgumentTypeError
from optdsl.runtime.dtypes import float_dtype
from optdsl.runtime.solvers.base import SolverInfo, check_count, per_instance, resolve_tol, run_if
from optdsl.runtime.solvers.cones import Cones, project_dual_cone
from optdsl.runtime.status import INFEASIBLE, MAX_ITERATIONS, NUMERICAL_ERROR, SOLVED, UNBOUNDED

Array = jax.Array

#: Ruiz equilibration passes.
RUIZ_PASSES = 15
#: Row/column norms below this are left unscaled; larger ones are clipped here (as SCS does).
MIN_NORM, MAX_NORM = 1e-4, 1e4
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
#: Shortest step the polish tries along a Newton direction (it halves from 1).
MIN_POLISH_STEP = 0.125
#: Polish passes after which an attempt that has not halved the residual gives up.
POLISH_PATIENCE = 4
#: Internal flags of an ADMM loop: no stopping test met yet; paused for a polish; paused for a new metric.
_RUNNING, _POLISH, _RESCALE = -1, -2, -3


class ConicPoint(NamedTuple):
    """A primal-dual point: ``x`` of shape ``(n,)``, ``y`` and ``s`` of shape ``(m,)``.

    At a solution ``A x + s = b``, ``s in K``, ``A'y + c = 0``, ``y in K*``,
    ``s'y = 0``. For an infeasible problem ``y`` is a certificate scaled to
    ``b'y = -1`` (``x``, ``s`` are NaN); for an unbounded one ``(x, s)`` is a
    certificate scaled to ``c'x = -1`` (``y`` is NaN).
    """

    x: Array
    y: Array
    s: Array


class _Problem(NamedTuple):
    """The data as given (``A0, b0, c0``), its equilibrated copy and the scaling between them.

    ``A = diag(d) A0 diag(e)``, ``b = sigma_b d * b0``, ``c = sigma_c e * c0``; a point
    ``(x^, y^, s^)`` of the scaled problem is ``(e x^ / sigma_b, d y^ / sigma_c, s^ / (d sigma_b))``
    of the original one. ``zero_rows``: bool mask of the equality rows.
    """

    A0: Array
    b0: Array
    c0: Array
    A: Array
    b: Array
    c: Array
    d: Array
    e: Array
    sigma_b: Array
    sigma_c: Array
    zero_rows: Array


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
    flag: Array  # _RUNNING, _POLISH, _RESCALE, or the status whose test z passed
    k: Array  # Douglas-Rachford steps taken


class _Outer(NamedTuple):
    """State between ADMM segments (see :func:`conic_solve`)."""

    loop: _Loop
    z: Array  # result so far, identity metric
    u: Array  # Pi_C(z)
    attempts: Array  # polish attempts so far
    done: Array


# --------------------------------------------------------------------------- data, scaling, linear system


def _check_data(A, b, c, cones: Cones) -> tuple[Array, Array, Array]:
    if not isinstance(cones, Cones):
        raise ArgumentTypeError(f"cones must be a Cones instance, got {type(cones).__name__}")
    dtype = float_dtype(*(jnp.asarray(v).dtype for v in (A, b, c)))
    A, b, c = (jnp.asarray(v, dtype) for v in (A, b, c))
    if A.ndim != 2:
        raise ArgumentError(f"A must be a matrix of shape (m, n), got shape {A.shape}")
    m, n = A.shape
    if n == 0 or m == 0:
        raise ArgumentError(f"A must have at least one row and one column, got shape {A.shape}")
    if m != cones.dim:
        raise ArgumentError(f"A has {m} rows but cones describe {cones.dim} rows ({cones})")
    if b.shape != (m,):
        raise ArgumentError(f"b must have shape ({m},) to match A of shape {A.shape}, got {b.shape}")
    if c.shape != (n,):
        raise ArgumentError(f"c must have shape ({n},) to match A of shape {A.shape}, got {c.shape}")
    return A, b, c


def _inv_sqrt_norm(norm: Array) -> Array:
    """Ruiz factor ``1 / sqrt(norm)``, with norm clipped to ``[MIN_NORM, MAX_NORM]`` and 1 for tiny norms."""
    clipped = jnp.clip(norm, MIN_NORM, MAX_NORM)
    return jnp.where(norm < MIN_NORM, 1, 1 / jnp.sqrt(clipped)).astype(norm.dtype)


def _equilibrate(A: Array, b: Array, c: Array, cones: Cones) -> _Problem:
    """Ruiz equilibration of the bordered matrix ``[[A, b], [c', 0]]`` in the infinity norm.

    Rows of one cone share their factor (see :meth:`Cones.blocks`) so the scaled
    cone is the cone itself; the border row and column give the scalars
    ``sigma_c`` and ``sigma_b`` that balance ``c`` and ``b`` against ``A``.
    """
    blocks = cones.blocks()
    n_blocks = int(blocks[-1]) + 1
    one = jnp.ones((), A.dtype)

    def ruiz_pass(_, scales):
        d, e, sigma_b, sigma_c = scales
        As = d[:, None] * A * e[None, :]
        bs, cs = sigma_b * d * b, sigma_c * e * c
        rows = jnp.maximum(jnp.max(jnp.abs(As), axis=1), jnp.abs(bs))
        rows = jax.ops.segment_max(rows, blocks, num_segments=n_blocks)[blocks]
        cols = jnp.maximum(jnp.max(jnp.abs(As), axis=0), jnp.abs(cs))
        return (d * _inv_sqrt_norm(rows), e * _inv_sqrt_norm(cols),
                sigma_b * _inv_sqrt_norm(jnp.max(jnp.abs(bs))), sigma_c * _inv_sqrt_norm(jnp.max(jnp.abs(cs))))

    scales = (jnp.ones_like(b), jnp.ones_like(c), one, one)
    d, e, sigma_b, sigma_c = lax.fori_loop(0, RUIZ_PASSES, ruiz_pass, scales)
    zero_rows = jnp.asarray(np.arange(cones.dim) < cones.zero)
    return _Problem(A, b, c, d[:, None] * A * e[None, :], sigma_b * d * b, sigma_c * e * c,
                    d, e, sigma_b, sigma_c, zero_rows)


def _metric(p: _Problem, scale: Array) -> Array:
    """``R_y``: ``1 / scale`` on cone rows, ``ZERO_ROW_FACTOR / scale`` on equality rows."""
    return jnp.where(p.zero_rows, ZERO_ROW_FACTOR, 1).astype(p.A.dtype) / scale


def _solve_block(p: _Problem, rho_y: Array, chol: Array, rx: Array, ry: Array) -> tuple[Array, Array]:
    """Solve ``rho_x x + A'y = rx``, ``-A x + R_y y = ry`` (the ``R + M`` block) with the Cholesky factor."""
    m, n = p.A.shape
    rho_x = jnp.asarray(RHO_X, p.A.dtype)
    if n <= m:
        x = jsl.cho_solve((chol, True), rx - p.A.T @ (ry / rho_y))
        return x, (ry + p.A @ x) / rho_y
    y = jsl.cho_solve((chol, True), ry + p.A @ rx / rho_x)
    return (rx - p.A.T @ y) / rho_x, y


def _factor(p: _Problem, scale: Array) -> _Factor:
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


def _solve_embedding(p: _Problem, f: _Factor, w: Array) -> Array:
    """``(R + Q)^{-1} w`` by eliminating the ``tau`` row: ``tau = (w_tau + h'(R + M)^{-1} w_xy) / (1 + h'g)``."""
    n = p.A.shape[1]
    px, py = _solve_block(p, f.rho_y, f.chol, w[:n], w[n:-1])
    tau = (w[-1] + jnp.dot(p.c, px) + jnp.dot(p.b, py)) / f.denom
    return jnp.concatenate([jnp.concatenate([px, py]) - f.g * tau, tau[None]])


def _weights(p: _Problem, f: _Factor) -> Array:
    """Diagonal of ``R`` over ``(x, y, tau)``."""
    n = p.A.shape[1]
    dtype = p.A.dtype
    return jnp.concatenate([jnp.full((n,), RHO_X, dtype), f.rho_y, jnp.ones((1,), dtype)])


# --------------------------------------------------------------------------- residuals and status tests


def _inf_norm(v: Array) -> Array:
    return jnp.max(jnp.abs(v))


def _relative(err: Array, *sizes: Array) -> Array:
    """``err / (1 + max(sizes))``; NaN counts as infinite."""
    ratio = err / (1 + jnp.max(jnp.stack(sizes)))
    return jnp.where(jnp.isnan(ratio), jnp.inf, ratio)


def _divide(v: Array, tau: Array) -> Array:
    """``v / tau`` for ``tau > 0``, NaN otherwise (there is no solution estimate at ``tau = 0``)."""
    positive = tau > 0
    return jnp.where(positive, v / jnp.where(positive, tau, 1), jnp.nan)


def _certificate_ratio(violation: Array, data_norm: Array, p: _Problem, value: Array) -> Array:
    """``||violation|| ||data|| / (max|A| * -value)`` when ``value < 0``, else infinity (scale-free; 1 for ``A = 0``)."""
    size = jnp.max(jnp.abs(p.A0))
    scale = jnp.where(size > 0, size, 1) * -value
    ok = (value < 0) & (scale > 0)
    ratio = _inf_norm(violation) * data_norm / jnp.where(ok, scale, 1)
    return jnp.where(ok & ~jnp.isnan(ratio), ratio, jnp.inf)


class _Tests(NamedTuple):
    """Residuals at one embedding point ``u = (x^, y^, tau)``, ``v = (0, s^, kappa)`` of the scaled problem.

    ``solution``: largest relative optimality residual of ``(x, y, s) / tau`` on
    the original data -- primal ``||Ax + s - b|| / (1 + max(||Ax||, ||s||, ||b||))``,
    dual ``||A'y + c|| / (1 + max(||A'y||, ||c||))``, gap
    ``|c'x + b'y| / (1 + max(|c'x|, |b'y|))`` in infinity norms. ``infeasible`` /
    ``unbounded``: scale-free distance of ``y`` / ``(x, s)`` from a certificate
    (:func:`_certificate_ratio`). ``log_ratio``: ``log`` of the relative primal over
    relative dual residual of the scaled embedding, which steers ``scale``.
    """

    solution: Array
    infeasible: Array
    unbounded: Array
    log_ratio: Array


def _evaluate(p: _Problem, x_hat: Array, y_hat: Array, s_hat: Array, tau: Array) -> tuple[_Tests, ConicPoint]:
    """Status residuals at a scaled embedding point, and its original-space ``(x, y, s)`` (not divided by ``tau``)."""
    Ax_hat, Aty_hat = p.A @ x_hat, p.A.T @ y_hat
    x, y, s = p.e * x_hat / p.sigma_b, p.d * y_hat / p.sigma_c, s_hat / (p.d * p.sigma_b)
    Ax, Aty = Ax_hat / (p.d * p.sigma_b), Aty_hat / (p.e * p.sigma_c)
    inv_tau = _divide(jnp.ones_like(tau), tau)
    cx, by = jnp.dot(p.c0, x) * inv_tau, jnp.dot(p.b0, y) * inv_tau
    solution = jnp.max(jnp.stack([
        _relative(_inf_norm((Ax + s) * inv_tau - p.b0), _inf_norm(Ax) * inv_tau, _inf_norm(s) * inv_tau,
                  _inf_norm(p.b0)),
        _relative(_inf_norm(Aty * inv_tau + p.c0), _inf_norm(Aty) * inv_tau, _inf_norm(p.c0)),
        _relative(jnp.abs(cx + by), jnp.abs(cx), jnp.abs(by)),
    ]))
    infeasible = _certificate_ratio(Aty, _inf_norm(p.b0), p, jnp.dot(p.b0, y))
    unbounded = _certificate_ratio(Ax + s, _inf_norm(p.c0), p, jnp.dot(p.c0, x))
    tiny = jnp.finfo(x_hat.dtype).tiny
    primal = _inf_norm(Ax_hat + s_hat - p.b * tau) / (tiny + jnp.maximum(
        jnp.maximum(_inf_norm(Ax_hat), _inf_norm(s_hat)), _inf_norm(p.b * tau)))
    dual = _inf_norm(Aty_hat + p.c * tau) / (tiny + jnp.maximum(_inf_norm(Aty_hat), _inf_norm(p.c * tau)))
    log_ratio = jnp.log(primal + tiny) - jnp.log(dual + tiny)
    log_ratio = jnp.where(jnp.isfinite(log_ratio), log_ratio, 0)
    return _Tests(solution, infeasible, unbounded, log_ratio), ConicPoint(x, y, s)


def _flag(tests: _Tests, tol: Array, cert_tol: Array) -> Array:
    return jnp.where(tests.solution <= tol, SOLVED, jnp.where(
        tests.infeasible <= cert_tol, INFEASIBLE, jnp.where(
            tests.unbounded <= cert_tol, UNBOUNDED, _RUNNING))).astype(jnp.int32)


def _project(p: _Problem, cones: Cones, z: Array) -> Array:
    """``Pi_C(z)``: ``x`` free, ``y`` onto ``K*``, ``tau`` onto ``R_+``."""
    n = p.A.shape[1]
    return jnp.concatenate([z[:n], project_dual_cone(z[n:-1], cones), jnp.maximum(z[-1:], 0)])


def _embedding_point(p: _Problem, z: Array, u: Array, weights: Array) -> tuple[Array, Array, Array, Array]:
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


def _admm_start(p: _Problem, z0: Array, u0: Array, memory: int) -> _Loop:
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
                 jnp.asarray(jnp.inf, dtype), jnp.asarray(_RUNNING, jnp.int32), int0)


def _identity_point(p: _Problem, st: _Loop) -> Array:
    """The loop's ``z`` in the identity metric (``z = u - v``)."""
    return _remetric(st.z, st.u, _weights(p, st.factor), jnp.ones_like(st.z))


def _admm(p: _Problem, cones: Cones, start: _Loop, *, alpha: float, memory: int, anderson_type: int,
          tol: Array, cert_tol: Array, maxiter: int, active: Array, allow_polish: Array) -> _Loop:
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
    or at once when ``active`` is false.
    """
    dtype = start.z.dtype

    def body(st: _Loop) -> _Loop:
        weights = _weights(p, st.factor)
        point = _embedding_point(p, st.z, st.u, weights)
        tests, _ = _evaluate(p, *point)
        pattern = jnp.stack([point[1] != 0, point[2] != 0])
        changed = jnp.any(pattern != st.pattern)
        stable = jnp.where(changed, 0, st.stable + 1)
        bar = jnp.where(changed, jnp.maximum(st.bar, FIRST_POLISH), st.bar).astype(dtype)
        flag = _flag(tests, tol, cert_tol)
        ready = allow_polish & (stable >= STABLE_ITERS) & (tests.solution <= bar)
        flag = jnp.where((flag == _RUNNING) & ready, _POLISH, flag)
        f = st.z + alpha * (_solve_embedding(p, st.factor, weights * (2 * st.u - st.z)) - st.u)
        g = st.z - f
        gnorm = jnp.sqrt(jnp.sum(weights * g * g))  # T is averaged in the R-norm
        flag = jnp.where((flag == _RUNNING) & ~jnp.isfinite(gnorm), NUMERICAL_ERROR, flag)
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
        rescale = (flag == _RUNNING) & (since >= SCALE_MIN_ITERS) & (jnp.abs(mean) > np.log(SCALE_TRIGGER))
        scale = jnp.where(rescale, jnp.clip(st.scale * jnp.exp(mean / 2), MIN_SCALE, MAX_SCALE), st.scale)
        # A rescale continues from the plain step: an unchecked Anderson point is not carried across metrics.
        z = jnp.where(reject, st.fallback, jnp.where(rescale, f, candidate))
        nxt = nxt._replace(
            z=z, u=_project(p, cones, z), fallback=jnp.where(reject, st.fallback, f),
            ref_norm=jnp.where(reject, st.ref_norm, gnorm), was_aa=nxt.was_aa & ~reject, has_prev=~reject,
            scale=scale, log_ratio=log_ratio, since=since, flag=jnp.where(rescale, _RESCALE, flag))
        stopped = flag != _RUNNING
        kept = st._replace(flag=flag, residual=tests.solution, bar=bar)
        return jax.tree_util.tree_map(lambda old, new: jnp.where(stopped, old, new), kept, nxt)

    def cond(st: _Loop) -> Array:
        return active & (st.flag == _RUNNING) & (st.k < maxiter)

    return lax.while_loop(cond, body, start._replace(flag=jnp.asarray(_RUNNING, jnp.int32)))


def _rescale(p: _Problem, st: _Loop) -> _Loop:
    """Factorise for the loop's new ``scale`` and write ``z`` in the new metric; clear the memories."""
    factor = _factor(p, st.scale)
    zero = jnp.zeros((), jnp.int32)
    return st._replace(z=_remetric(st.z, st.u, _weights(p, st.factor), _weights(p, factor)), factor=factor,
                       was_aa=jnp.asarray(False), has_prev=jnp.asarray(False), count=zero,
                       log_ratio=jnp.zeros_like(st.log_ratio), since=zero)


# --------------------------------------------------------------------------- Newton polish


class _Polish(NamedTuple):
    base: tuple[Array, Array]  # (x, v) the current Newton step starts from
    base_norm: Array
    direction: Array  # Newton step from ``base``
    length: Array  # step length of the pending trial
    forced: Array  # bool: the pending trial is a full step taken without a decrease
    trial: tuple[Array, Array]  # (x, v) to evaluate next
    best: tuple[Array, Array, Array]  # (x, v, Pi*(v)) with the lowest residual so far
    best_norm: Array
    first_norm: Array  # residual at the start
    passes: Array


def _polish(p: _Problem, cones: Cones, z: Array, steps: int) -> tuple[Array, Array]:
    """Semi-smooth Newton on the embedding residual at ``tau = 1``, on the scaled data; returns ``(z, Pi_C(z))``.

    ``z`` is scaled to ``tau = 1`` first. Unknowns ``(x, v)``; residual
    ``F = (A' Pi*(v) + c, -A x + b - Pi*(v) + v)`` (the ``x``, ``y`` rows of
    ``(Q - I) Pi(z) + z`` at ``w = 1``; the gap row is implied by them), with
    Jacobian ``J = [[0, A' D], [-A, I - D]]``, ``D = dPi*(v)``. The step solves
    ``(J + ||F||^2 I) d = -F`` by dense LU: ``D`` is symmetric with eigenvalues
    in ``[0, 1]`` (it is a projection's derivative), which makes the shifted
    matrix invertible even where ``J`` is singular (a wrong active set), while
    a shift of the order of the squared residual keeps the fast local convergence
    (Levenberg-Marquardt's choice).
    Each loop pass evaluates one trial point (``steps`` passes in all). A trial
    that lowers ``||F||`` below the current point's becomes the new current
    point and its Newton step is tried next; otherwise the step is halved, and
    below :data:`MIN_POLISH_STEP` the full step is taken anyway -- a jump that
    lets the piecewise-smooth ``Pi*`` change piece, as an active-set method
    would. The point with the lowest ``||F||`` seen is returned, so the result
    never has a larger residual than the start. An attempt that has not halved
    the residual after :data:`POLISH_PATIENCE` passes stops early (each pass
    costs a dense factorisation).
    """
    n, m = p.A.shape[1], p.A.shape[0]
    dtype = z.dtype
    eye = jnp.eye(m, dtype=dtype)
    eps = jnp.finfo(dtype).eps

    def project(v):
        return project_dual_cone(v, cones)

    def body(st: _Polish) -> _Polish:
        x, v = st.trial
        y, Dt = jax.vmap(lambda t: jax.jvp(project, (v,), (t,)), out_axes=(None, 0))(eye)
        F = jnp.concatenate([p.A.T @ y + p.c, -p.A @ x + p.b - y + v])
        norm = jnp.linalg.norm(F)
        norm = jnp.where(jnp.isnan(norm), jnp.inf, norm)
        shift = jnp.where(jnp.isfinite(norm), norm, 0) ** 2
        J = jnp.block([[shift * jnp.eye(n, dtype=dtype), p.A.T @ Dt.T], [-p.A, (1 + shift) * eye - Dt.T]])
        newton = jsl.lu_solve(jsl.lu_factor(J), -F)
        improved = norm < st.best_norm
        best = jax.tree_util.tree_map(lambda new, old: jnp.where(improved, new, old), (x, v, y), st.best)
        accept = (st.forced | (norm < st.base_norm)) & jnp.all(jnp.isfinite(newton))
        base = jax.tree_util.tree_map(lambda new, old: jnp.where(accept, new, old), (x, v), st.base)
        direction = jnp.where(accept, newton, st.direction)
        halved = st.length / 2
        forced = ~accept & (halved < MIN_POLISH_STEP)
        length = jnp.where(accept | forced, 1, halved).astype(dtype)
        trial = (base[0] + length * direction[:n], base[1] + length * direction[n:])
        return _Polish(base, jnp.where(accept, norm, st.base_norm), direction, length, forced, trial, best,
                       jnp.minimum(norm, st.best_norm), jnp.where(st.passes == 0, norm, st.first_norm),
                       st.passes + 1)

    def cond(st: _Polish) -> Array:
        floor = 16 * eps * (1 + jnp.max(jnp.abs(st.best[0]), initial=0) + jnp.max(jnp.abs(st.best[1])))
        stalled = (st.passes >= POLISH_PATIENCE) & ~(st.best_norm <= st.first_norm / 2)
        return (st.passes < steps) & ~(st.best_norm <= floor) & ~stalled

    tau = z[-1]
    scale = jnp.where(tau > 0, 1 / jnp.where(tau > 0, tau, 1), 1)
    x0, v0 = z[:n] * scale, z[n:-1] * scale
    inf = jnp.asarray(jnp.inf, dtype)
    start = _Polish((x0, v0), inf, jnp.zeros((n + m,), dtype), jnp.ones((), dtype), jnp.asarray(True), (x0, v0),
                    (x0, v0, jnp.zeros((m,), dtype)), inf, inf, jnp.zeros((), jnp.int32))
    x, v, y = lax.while_loop(cond, body, start).best
    one = jnp.ones((1,), dtype)
    return jnp.concatenate([x, v, one]), jnp.concatenate([x, y, one])


# --------------------------------------------------------------------------- public solver


def _initial_point(p: _Problem, init: ConicPoint | None) -> Array:
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
                polish: int = 10) -> tuple[ConicPoint, SolverInfo]:
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
    see :class:`_Tests`) is at most ``tol``; INFEASIBLE / UNBOUNDED when a
    certificate passes its scale-free test at ``tol ** 0.75`` (a looser test lets ADMM's
    early iterates on badly scaled rows pass for certificates of feasible problems); MAX_ITERATIONS
    after ``maxiter`` ADMM steps otherwise; NUMERICAL_ERROR for non-finite
    values. ``info.residual`` is the optimality residual, or the certificate's.
    Pure JAX (``jit``/``vmap`` over data with the same ``cones``; under ``vmap`` a
    loop over the instances on a CPU, see :func:`~optdsl.runtime.solvers.base.per_instance`),
    keeps the dtype. The returned point is not differentiable here (the loops are
    ``while_loop``s); differentiate through
    :func:`~optdsl.runtime.solvers.conic_diff.solve_conic_diff` instead.

    Example:
        >>> A = jnp.array([[-1.0], [1.0]])  # x >= 1 written as -x + s = -1, and x <= 3
        >>> point, info = conic_solve(A, jnp.array([-1.0, 3.0]), jnp.array([1.0]), Cones(nonneg=2))
        >>> round(float(point.x[0]), 6), int(info.status)
        (1.0, 0)
    """
    A, b, c = _check_data(A, b, c, cones)
    _check_options(alpha, anderson, anderson_type, maxiter, polish)
    dtype = A.dtype
    tol = jnp.asarray(resolve_tol(tol, dtype), dtype)

    # Batched, one instance after another on a CPU: each runs its own ADMM steps and pauses.
    @per_instance
    def run(A, b, c, init, tol):
        cert_tol = tol ** 0.75
        p = _equilibrate(A, b, c, cones)
        z0 = _initial_point(p, init)

        def admm(state, active, allow_polish):
            return _admm(p, cones, state, alpha=alpha, memory=anderson, anderson_type=anderson_type,
                         tol=tol, cert_tol=cert_tol, maxiter=maxiter, active=active, allow_polish=allow_polish)

        u0 = z0 if init is None else _project(p, cones, z0)  # (0, 0, 1) is in C already

        def segment(st: _Outer) -> _Outer:
            """Resume ADMM until a status test, ``maxiter``, a new metric or a polish trigger; act on the pause.

            A polished point is kept if it meets ``tol``, or after ``maxiter`` if it is
            better than ADMM's; otherwise ADMM resumes exactly where it paused, with
            the bar ten times lower.
            """
            loop = admm(st.loop, ~st.done, (st.attempts < MAX_POLISH_ATTEMPTS) & (polish > 0))
            z = _identity_point(p, loop)
            out_of_steps = (loop.flag == _RUNNING) & (loop.k >= maxiter)
            finished = (loop.flag != _RUNNING) & (loop.flag != _POLISH) & (loop.flag != _RESCALE)
            # run_if, not lax.cond: under vmap a cond runs both branches for every instance, and the
            # re-factorisation and the polish (each batched LAPACK work) must not run side by side.
            loop = run_if(~st.done & (loop.flag == _RESCALE), lambda loop: _rescale(p, loop), (loop,), loop)
            if not polish:
                return _Outer(loop, z, loop.u, st.attempts, st.done | finished | out_of_steps)
            attempt = ~st.done & ((loop.flag == _POLISH) | out_of_steps)
            z_new, u_new = run_if(attempt, lambda z: _polish(p, cones, z, polish), (z,), (z, loop.u))
            polished = _evaluate(p, *_embedding_point(p, z_new, u_new, jnp.ones_like(z_new)))[0].solution
            solved = polished <= tol
            keep = attempt & (solved | (out_of_steps & (polished < loop.residual)))
            loop = loop._replace(bar=jnp.where(loop.flag == _POLISH, loop.residual / 10, loop.bar).astype(dtype))
            return _Outer(loop, jnp.where(keep, z_new, z), jnp.where(keep, u_new, loop.u), st.attempts + attempt,
                          st.done | finished | out_of_steps | (keep & solved))

        outer = _Outer(_admm_start(p, z0, u0, anderson), z0, u0, jnp.zeros((), jnp.int32), jnp.asarray(False))
        end = lax.while_loop(lambda st: ~st.done, segment, outer)
        return _finish(p, end.z, end.u, end.loop, tol, cert_tol)

    return run(A, b, c, init, tol)


def _finish(p: _Problem, z: Array, u: Array, loop: _Loop, tol: Array,
            cert_tol: Array) -> tuple[ConicPoint, SolverInfo]:
    """Status from explicit tests on the final embedding point, and the point or certificate it stands for.

    NUMERICAL_ERROR when no test passes and the data, the point or the last ADMM step was not finite.
    """
    x_hat, y_hat, s_hat, tau = _embedding_point(p, z, u, jnp.ones_like(z))
    tests, (x, y, s) = _evaluate(p, x_hat, y_hat, s_hat, tau)
    finite = (jnp.all(jnp.isfinite(z)) & (loop.flag != NUMERICAL_ERROR) & jnp.all(jnp.isfinite(p.A0))
              & jnp.all(jnp.isfinite(p.b0)) & jnp.all(jnp.isfinite(p.c0)))
    status = jnp.where(tests.solution <= tol, SOLVED, jnp.where(
        tests.infeasible <= cert_tol, INFEASIBLE, jnp.where(
            tests.unbounded <= cert_tol, UNBOUNDED,
            jnp.where(finite, MAX_ITERATIONS, NUMERICAL_ERROR)))).astype(jnp.int32)
    is_inf, is_unb = status == INFEASIBLE, status == UNBOUNDED
    by, cx = jnp.dot(p.b0, y), jnp.dot(p.c0, x)
    point = ConicPoint(
        jnp.where(is_inf, jnp.nan, jnp.where(is_unb, x / jnp.where(is_unb, -cx, 1), _divide(x, tau))),
        jnp.where(is_unb, jnp.nan, jnp.where(is_inf, y / jnp.where(is_inf, -by, 1), _divide(y, tau))),
        jnp.where(is_inf, jnp.nan, jnp.where(is_unb, s / jnp.where(is_unb, -cx, 1), _divide(s, tau))),
    )
    residual = jnp.where(is_inf, tests.infeasible, jnp.where(is_unb, tests.unbounded, tests.solution))
    return point, SolverInfo(loop.k.astype(jnp.int32), lax.stop_gradient(residual), status)
