"""The cone program both conic solvers solve: its data, their equilibration, the stopping tests and the report.

The pair (SCS convention), with ``K`` described by :class:`~optdsl.runtime.solvers.cones.Cones`::

    min  c'x  s.t.  A x + s = b,  s in K          max  -b'y  s.t.  A'y + c = 0,  y in K*

Both the interior point (:mod:`~optdsl.runtime.solvers.conic_ip`) and ADMM
(:mod:`~optdsl.runtime.solvers.conic`) work on Ruiz-equilibrated data and judge their
points by the tests here, on the original data, so both mean the same by SOLVED,
INFEASIBLE and UNBOUNDED, and both report a point the same way (:func:`report`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from optdsl.errors import ArgumentError, ArgumentTypeError
from optdsl.runtime.dtypes import float_dtype
from optdsl.runtime.solvers.base import SolverInfo
from optdsl.runtime.solvers.cones import Cones
from optdsl.runtime.status import INFEASIBLE, MAX_ITERATIONS, NUMERICAL_ERROR, SOLVED, UNBOUNDED

Array = jax.Array

#: Ruiz equilibration passes.
RUIZ_PASSES = 15
#: Row/column norms below this are left unscaled; larger ones are clipped here (as SCS does).
MIN_NORM, MAX_NORM = 1e-4, 1e4
#: Code of a point that has met no stopping test yet.
RUNNING = -1


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


class ScaledProblem(NamedTuple):
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


def check_data(A, b, c, cones: Cones) -> tuple[Array, Array, Array]:
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


def inv_sqrt_norm(norm: Array) -> Array:
    """Ruiz factor ``1 / sqrt(norm)``, with norm clipped to ``[MIN_NORM, MAX_NORM]`` and 1 for tiny norms."""
    clipped = jnp.clip(norm, MIN_NORM, MAX_NORM)
    return jnp.where(norm < MIN_NORM, 1, 1 / jnp.sqrt(clipped)).astype(norm.dtype)


def equilibrate(A: Array, b: Array, c: Array, cones: Cones) -> ScaledProblem:
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
        return (d * inv_sqrt_norm(rows), e * inv_sqrt_norm(cols),
                sigma_b * inv_sqrt_norm(jnp.max(jnp.abs(bs))), sigma_c * inv_sqrt_norm(jnp.max(jnp.abs(cs))))

    scales = (jnp.ones_like(b), jnp.ones_like(c), one, one)
    d, e, sigma_b, sigma_c = lax.fori_loop(0, RUIZ_PASSES, ruiz_pass, scales)
    zero_rows = jnp.asarray(np.arange(cones.dim) < cones.zero)
    return ScaledProblem(A, b, c, d[:, None] * A * e[None, :], sigma_b * d * b, sigma_c * e * c,
                    d, e, sigma_b, sigma_c, zero_rows)




def relative(err: Array, *sizes: Array) -> Array:
    """``err / (1 + max(sizes))``; NaN counts as infinite."""
    ratio = err / (1 + jnp.max(jnp.stack(sizes)))
    return jnp.where(jnp.isnan(ratio), jnp.inf, ratio)


def divide(v: Array, tau: Array) -> Array:
    """``v / tau`` for ``tau > 0``, NaN otherwise (there is no solution estimate at ``tau = 0``)."""
    positive = tau > 0
    return jnp.where(positive, v / jnp.where(positive, tau, 1), jnp.nan)


def _inf_norms(*vectors: Array) -> Array:
    """The infinity norm of each of ``vectors`` (of one length) in one reduction: compiled, each is a kernel."""
    return jnp.max(jnp.abs(jnp.stack(vectors)), axis=1)


def _certificate_ratio(violation: Array, data_norm: Array, p: ScaledProblem, value: Array) -> Array:
    """``||violation|| ||data|| / (max|A| * -value)`` when ``value < 0``, else infinity (``violation``: the norm).

    Scale-free; ``max|A|`` counts as 1 for ``A = 0``.
    """
    size = jnp.max(jnp.abs(p.A0))
    scale = jnp.where(size > 0, size, 1) * -value
    ok = (value < 0) & (scale > 0)
    ratio = violation * data_norm / jnp.where(ok, scale, 1)
    return jnp.where(ok & ~jnp.isnan(ratio), ratio, jnp.inf)


class Tests(NamedTuple):
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


def unscale(p: ScaledProblem, x_hat: Array, y_hat: Array, s_hat: Array) -> ConicPoint:
    """The original-space point of a scaled one (see :class:`ScaledProblem`), not divided by ``tau``."""
    return ConicPoint(p.e * x_hat / p.sigma_b, p.d * y_hat / p.sigma_c, s_hat / (p.d * p.sigma_b))


def evaluate(p: ScaledProblem, x_hat: Array, y_hat: Array, s_hat: Array, tau: Array) -> tuple[Tests, ConicPoint]:
    """Status residuals at a scaled embedding point, and its original-space ``(x, y, s)`` (not divided by ``tau``)."""
    Ax_hat, Aty_hat = p.A @ x_hat, p.A.T @ y_hat
    x, y, s = unscale(p, x_hat, y_hat, s_hat)
    Ax, Aty = Ax_hat / (p.d * p.sigma_b), Aty_hat / (p.e * p.sigma_c)
    inv_tau = divide(jnp.ones_like(tau), tau)
    cx, by = jnp.dot(p.c0, x) * inv_tau, jnp.dot(p.b0, y) * inv_tau
    primal_res, ax, s_norm, b_norm, ray, scaled_res, ax_hat, s_hat_norm, b_tau = _inf_norms(
        (Ax + s) * inv_tau - p.b0, Ax, s, p.b0, Ax + s, Ax_hat + s_hat - p.b * tau, Ax_hat, s_hat, p.b * tau)
    dual_res, aty, c_norm, scaled_dual_res, aty_hat, c_tau = _inf_norms(
        Aty * inv_tau + p.c0, Aty, p.c0, Aty_hat + p.c * tau, Aty_hat, p.c * tau)
    solution = jnp.max(jnp.stack([
        relative(primal_res, ax * inv_tau, s_norm * inv_tau, b_norm),
        relative(dual_res, aty * inv_tau, c_norm),
        relative(jnp.abs(cx + by), jnp.abs(cx), jnp.abs(by)),
    ]))
    infeasible = _certificate_ratio(aty, b_norm, p, jnp.dot(p.b0, y))
    unbounded = _certificate_ratio(ray, c_norm, p, jnp.dot(p.c0, x))
    tiny = jnp.finfo(x_hat.dtype).tiny
    primal = scaled_res / (tiny + jnp.maximum(jnp.maximum(ax_hat, s_hat_norm), b_tau))
    dual = scaled_dual_res / (tiny + jnp.maximum(aty_hat, c_tau))
    log_ratio = jnp.log(primal + tiny) - jnp.log(dual + tiny)
    log_ratio = jnp.where(jnp.isfinite(log_ratio), log_ratio, 0)
    return Tests(solution, infeasible, unbounded, log_ratio), ConicPoint(x, y, s)


def stop_code(tests: Tests, tol: Array, cert_tol: Array) -> Array:
    """The status whose test passes (SOLVED before INFEASIBLE before UNBOUNDED), or RUNNING.

    A ray proves unboundedness only for a feasible problem. A problem can be infeasible and have a ray too (its
    dual is infeasible as well), and the embedding then approaches both certificates. So while a Farkas
    certificate is forming (its test within ``sqrt(cert_tol)``) UNBOUNDED waits, and the iterations go on until
    one of the two tests passes: such a problem is reported INFEASIBLE.
    """
    forming = tests.infeasible <= jnp.sqrt(cert_tol)
    return jnp.where(tests.solution <= tol, SOLVED, jnp.where(
        tests.infeasible <= cert_tol, INFEASIBLE, jnp.where(
            (tests.unbounded <= cert_tol) & ~forming, UNBOUNDED, RUNNING))).astype(jnp.int32)


def report(p: ScaledProblem, x_hat: Array, y_hat: Array, s_hat: Array, tau: Array, iterations: Array,
           failed: Array, tol: Array, cert_tol: Array, tests: Tests | None = None) -> tuple[ConicPoint, SolverInfo]:
    """The status from the tests at a scaled embedding point, and the solution or certificate it stands for.

    SOLVED, INFEASIBLE, UNBOUNDED as the tests say (in that order); otherwise NUMERICAL_ERROR
    when ``failed`` (the solver met non-finite values) and MAX_ITERATIONS when not. ``tests``: what
    :func:`evaluate` gave at this point, where the solver has it at hand (evaluated here otherwise).
    """
    if tests is None:
        tests, (x, y, s) = evaluate(p, x_hat, y_hat, s_hat, tau)
    else:
        x, y, s = unscale(p, x_hat, y_hat, s_hat)
    status = stop_code(tests, tol, cert_tol)
    status = jnp.where(status == RUNNING, jnp.where(failed, NUMERICAL_ERROR, MAX_ITERATIONS), status).astype(jnp.int32)
    is_inf, is_unb = status == INFEASIBLE, status == UNBOUNDED
    by, cx = jnp.dot(p.b0, y), jnp.dot(p.c0, x)
    point = ConicPoint(
        jnp.where(is_inf, jnp.nan, jnp.where(is_unb, x / jnp.where(is_unb, -cx, 1), divide(x, tau))),
        jnp.where(is_unb, jnp.nan, jnp.where(is_inf, y / jnp.where(is_inf, -by, 1), divide(y, tau))),
        jnp.where(is_inf, jnp.nan, jnp.where(is_unb, s / jnp.where(is_unb, -cx, 1), divide(s, tau))),
    )
    residual = jnp.where(is_inf, tests.infeasible, jnp.where(is_unb, tests.unbounded, tests.solution))
    return point, SolverInfo(iterations.astype(jnp.int32), lax.stop_gradient(residual), status)
