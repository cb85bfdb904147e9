"""Restarted primal-dual hybrid gradient (PDLP) for large sparse LPs and convex QPs.

Solves ``min 0.5 x'Px + c'x  s.t.  A x = b,  G x <= h,  lower <= x <= upper`` using only products with
``P``, ``A``, ``G`` and their transposes: no matrix is factored or formed, so memory and time per
iteration are linear in the non-zeros. The method is PDLP's (Applegate et al. 2021) with the
quadratic term taken explicitly in the primal step (as PDQP, Lu & Yang 2023, without momentum):

* diagonal preconditioning, 10 Ruiz passes then Pock-Chambolle (:mod:`.scaling`);
* PDHG steps ``x+ = clip(x - eta/w (P x + c - K'y))``, ``y+ = proj(y + eta w (q - K(2 x+ - x)))``
  with PDLP's adaptive step size ``eta``: a step is taken only if
  ``eta <= (w ||dx||^2 + ||dy||^2 / w) / (2 |dy'K dx| + dx'P dx)``;
* every 64 steps, adaptive restarts on the weighted KKT error ``sqrt(w^2 r_p^2 + r_d^2 / w^2 + gap^2)``
  (cuPDLP's rule): restart to the current or the step-weighted average iterate, whichever has the
  smaller error, when it is a fifth of the error at the last restart, or four fifths and no longer
  falling, or when the steps since the last restart are 36% of all; the primal weight ``w`` is
  then smoothed towards ``||dy|| / ||dx||`` over the restart period;
* the same checks test termination (:func:`~.problem.optimality` of both candidates) and
  infeasibility certificates (:func:`~.problem.infeasibility`, :func:`~.problem.unboundedness`) on
  three ray estimates: the last step's change, the change since the last restart and the iterate; a
  primal ray counts (UNBOUNDED) only once the iterate nearly holds the constraints (relative primal
  residual within ``sqrt(tol)``) and no Farkas certificate is forming, so an infeasible problem whose
  objective also falls along a ray is INFEASIBLE;
* once a ray is within :data:`STEADY` of a certificate the iteration becomes plain PDHG -- the step
  size stops growing, the primal weight and the restarts stop -- because the change of a fixed-step
  PDHG iterate converges to the ray (Applegate et al. 2021, infeasibility detection with PDHG).
* with ``polish``, once the residual is below :data:`POLISH_FROM`, the point is polished (:mod:`.polish`)
  at the evaluations where the steps have doubled since the last look and its active set
  (:func:`~.active_set.identify`) is the one seen then, its MINRES given :data:`POLISH_BUDGET` steps per
  PDHG step so far (a failed attempt costs at most a fixed share of the run); a polished point whose
  residual is :data:`POLISH_MARGIN` times ``tol`` ends the loop. PDHG shows the active set long before
  it is accurate, and on that set the polish is exact. The loop's last evaluation polishes its point
  once more, to ``tol``, with :data:`FINAL_BUDGET` MINRES steps per unknown. On a CPU a system MINRES
  has not solved in :data:`~.active_set.LU_AFTER` steps goes to the host (:mod:`.host_solve`): an
  attempt then costs one sparse LU, or one LSMR solve of a large system, which the budget does not
  bound; attempts stay one per doubling of the steps, on a stable active set only.

A status found in the loop is confirmed on the data as given, with the original matrices, before
it is reported.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from optdsl.errors import ArgumentError
from optdsl.runtime.dtypes import float_dtype
from optdsl.runtime.solvers.base import SolverInfo, check_count, iterate, per_instance, resolve_tol
from optdsl.runtime.solvers.log import log_iteration, reported
from optdsl.runtime.solvers.pdhg import active_set as act
from optdsl.runtime.solvers.pdhg import problem as pb
from optdsl.runtime.solvers.pdhg.derivatives import differentiated
from optdsl.runtime.solvers.pdhg.operators import LinearOperator, as_matrix
from optdsl.runtime.solvers.pdhg.polish import polish as polished
from optdsl.runtime.solvers.pdhg.scaling import precondition
from optdsl.runtime.status import INACCURATE, INFEASIBLE, MAX_ITERATIONS, NUMERICAL_ERROR, SOLVED, UNBOUNDED

Array = jax.Array

#: PDHG steps between two evaluations of the restart and stopping tests.
EVAL_EVERY = 64
#: Restart when the KKT error of the candidate falls to this fraction of the error at the last restart ...
SUFFICIENT = 0.2
#: ... or to this fraction and it rose since the previous evaluation ...
NECESSARY = 0.8
#: ... or when the steps since the last restart are this fraction of all steps.
ARTIFICIAL = 0.36
#: Weight of the new estimate ``||dy|| / ||dx||`` in the primal weight's geometric smoothing.
WEIGHT_SMOOTHING = 0.5
#: Exponents of PDLP's step size rule: shrink below the limit by ``k^-0.3``, grow by ``k^-0.6``.
REDUCTION_EXPONENT, GROWTH_EXPONENT = 0.3, 0.6
#: Trials of one step size search before its last trial is taken anyway.
MAX_TRIALS = 30
#: Power iterations for the initial step size ``1 / max(||K||_2, ||P||_2)``.
POWER_ITERATIONS = 20
#: A ray whose certificate ratio is below this stops the step size, the primal weight and the restarts
#: adapting: the last step's change converges to a certificate under a fixed step, not under one that adapts.
STEADY = 1e-3
#: Residual below which the loop tries to polish its point ...
POLISH_FROM = 1e-3
#: ... each time its steps have grown by this factor since the last look and its active set is the same, ...
POLISH_GROWTH = 2
#: ... giving the polish's MINRES this many steps per PDHG step so far; ...
POLISH_BUDGET = 4
#: ... a polished point whose residual is this fraction of ``tol`` ends the loop.
POLISH_MARGIN = 1e-4
#: MINRES steps per unknown of the active-set system that the polish at the loop's end may take.
FINAL_BUDGET = 10
#: Code of a loop that has met no stopping test yet.
_RUNNING = -1


def default_pdlp_tol(dtype: Any) -> float:
    """Default relative tolerance of :func:`pdlp`: ``max(1e-6, 1000 eps)`` -- 1e-6 in float64, 1.2e-4 in float32.

    A first-order method reaches 1e-6 in thousands of steps but ``default_tol``'s 1e-10 only in very many;
    the status says which tolerance was met, so pass a tighter ``tol`` (and a larger ``maxiter``) to get more.
    """
    return max(1e-6, 1000.0 * float(jnp.finfo(dtype).eps))


class PDLPPoint(NamedTuple):
    """A point of ``min 0.5 x'Px + c'x s.t. A x = b, G x <= h, lower <= x <= upper`` and its multipliers.

    At a solution ``P x + c + A'nu + G'lam = z`` with ``lam >= 0``: ``nu`` for ``A x = b``, ``lam`` for
    ``G x <= h``, ``z`` the reduced costs of the bounds (the lower bound's multiplier minus the upper
    bound's: ``z > 0`` only at a finite lower bound, ``z < 0`` only at a finite upper bound), the
    signs of :func:`~optdsl.runtime.solvers.interior_point.qp_interior_point`.
    """

    x: Array
    nu: Array
    lam: Array
    z: Array


class PDLPAux(NamedTuple):
    """Report of a :func:`pdlp` solve: :class:`SolverInfo`'s fields and the active set of the returned point.

    ``residual``: the largest relative residual of a solution (:func:`~.problem.optimality`), or the
    ratio of a certificate. ``at_lower``/``at_upper``: ``(n,)`` bool, ``x`` on that bound; ``active``:
    ``(m,)`` bool, the inequality rows held as equalities -- the set a polished point solved
    (:mod:`.polish`), else ``x`` exactly on the bound (the step projects onto the bounds) and ``lam > 0``.
    """

    iterations: Array
    residual: Array
    status: Array
    at_lower: Array
    at_upper: Array
    active: Array

    @property
    def info(self) -> SolverInfo:
        """The solver report alone."""
        return SolverInfo(self.iterations, self.residual, self.status)


class _State(NamedTuple):
    cur: pb.Point
    avg: pb.Point
    last: pb.Point  # the point of the last restart
    step_x: Array  # the last step's change of x, a ray estimate
    step_y: Array
    weight_sum: Array  # sum of the step sizes averaged since the last restart
    eta: Array
    omega: Array  # primal weight
    last_norms: Array  # (primal, dual, gap) at the last restart
    last_ratio: Array  # KKT reduction ratio at the previous evaluation
    inner: Array  # steps since the last restart
    steps: Array
    tried: Array  # step sizes tried, for the step size rule's exponents
    code: Array
    residual: Array
    steady: Array  # bool: a ray is close to a certificate; plain PDHG from then on
    attempted: Array  # steps at the last look at the active set for a polish
    seen: act.ActiveSet  # the active set seen then
    polished: Array  # bool: ``answer`` holds the result (a polish verified, or the last evaluation's ran)
    answer: tuple[PDLPPoint, PDLPAux]


def _top_singular_value(apply, n: int, dtype) -> Array:
    """``sqrt`` of the largest eigenvalue of the PSD map ``apply`` by power iteration (0 for the zero map)."""
    v = jnp.ones((n,), dtype) + 0.1 * jnp.sin(jnp.arange(n, dtype=dtype))
    v = v / jnp.linalg.norm(v)

    def body(_, v):
        w = apply(v)
        norm = jnp.linalg.norm(w)
        return jnp.where(norm > 0, w / jnp.where(norm > 0, norm, 1), v)

    v = lax.fori_loop(0, POWER_ITERATIONS, body, v)
    return jnp.sqrt(jnp.linalg.norm(apply(v)))


def _start(v: pb.View, init: tuple[Array, Array, Array] | None) -> _State:
    """PDLP's start: ``x = clip(0)``, ``y = 0`` (or ``init``'s ``(x, nu, lam)``, projected), ``w = ||c|| / ||q||``,
    ``eta = 1 / max(||K||, ||P||)``."""
    n, dtype = v.c.shape[0], v.c.dtype
    x, y = jnp.zeros_like(v.c), jnp.zeros_like(v.q)
    if init is not None:
        x, y = init[0] / v.e, jnp.concatenate([-init[1], init[2]]) / v.d
    z = pb.point(v, pb.project_primal(v, x), pb.project_dual(v, y))
    norm_K = _top_singular_value(lambda x: pb.KT(v, pb.K(v, x)), n, dtype)
    norm_P = _top_singular_value(lambda x: pb.P(v, pb.P(v, x)), n, dtype)
    norm = jnp.maximum(norm_K, norm_P)
    eta = jnp.where(norm > 0, 1 / jnp.where(norm > 0, norm, 1), 1)
    c_norm, q_norm = jnp.linalg.norm(v.c), jnp.linalg.norm(v.q)
    tiny = jnp.finfo(dtype).eps
    omega = jnp.where((c_norm > tiny) & (q_norm > tiny), c_norm / jnp.where(q_norm > tiny, q_norm, 1), 1)
    opt = pb.optimality(v, z)
    zero, false = jnp.zeros((), jnp.int32), jnp.zeros((), bool)
    p, m = v.problem.b.shape[0], v.problem.h.shape[0]
    answer = (PDLPPoint(jnp.zeros_like(v.c), jnp.zeros((p,), dtype), jnp.zeros((m,), dtype), jnp.zeros_like(v.c)),
              PDLPAux(zero, jnp.zeros((), dtype), zero, jnp.zeros((n,), bool), jnp.zeros((n,), bool),
                      jnp.zeros((m,), bool)))
    return _State(z, z, z, jnp.zeros_like(z.x), jnp.zeros_like(z.y), jnp.zeros((), dtype), eta.astype(dtype),
                  omega.astype(dtype), jnp.stack([opt.primal, opt.dual, opt.gap]), jnp.ones((), dtype), zero, zero,
                  zero, jnp.asarray(_RUNNING, jnp.int32), opt.relative, false, zero,
                  act.ActiveSet(answer[1].at_lower, answer[1].at_upper, answer[1].active), false, answer)


def _pdhg_step(v: pb.View, st: _State) -> _State:
    """One PDHG step with PDLP's adaptive step size, and the step-weighted average updated."""
    cur, omega = st.cur, st.omega

    def trial(carry):
        eta, _, _, k, _ = carry
        x = pb.project_primal(v, cur.x - (eta / omega) * (cur.Px + v.c - cur.KTy))
        Kx = pb.K(v, x)
        y = pb.project_dual(v, cur.y + (eta * omega) * (v.q - 2 * Kx + cur.Kx))
        new = pb.Point(x, y, Kx, pb.KT(v, y), pb.P(v, x))
        dx, dy = x - cur.x, y - cur.y
        movement = 0.5 * omega * jnp.vdot(dx, dx) + 0.5 / omega * jnp.vdot(dy, dy)
        interaction = jnp.abs(jnp.vdot(dy, Kx - cur.Kx)) + 0.5 * jnp.vdot(dx, new.Px - cur.Px)
        limit = jnp.where(interaction > 0, movement / jnp.where(interaction > 0, interaction, 1), jnp.inf)
        n = (st.tried + k + 2).astype(eta.dtype)
        accepted = eta <= limit
        following = jnp.minimum((1 - n ** -REDUCTION_EXPONENT) * limit, (1 + n ** -GROWTH_EXPONENT) * eta)
        return jnp.where(st.steady & accepted, eta, following), eta, new, k + 1, accepted

    def searching(carry):
        return ~carry[4] & (carry[3] < MAX_TRIALS)

    init = (st.eta, st.eta, cur, jnp.zeros((), jnp.int32), jnp.zeros((), bool))
    following, eta, new, k, _ = lax.while_loop(searching, trial, init)
    weight_sum = st.weight_sum + eta
    avg = jax.tree.map(lambda a, b: a + (eta / weight_sum) * (b - a), st.avg, new)
    return st._replace(cur=new, avg=avg, step_x=new.x - cur.x, step_y=new.y - cur.y, weight_sum=weight_sum,
                       eta=following, inner=st.inner + 1, steps=st.steps + 1, tried=st.tried + k)


def _select(pred: Array, a, b):
    """``a`` where ``pred``, else ``b`` (pytrees of one structure)."""
    return jax.tree.map(lambda u, w: jnp.where(pred, u, w), a, b)


def _kkt(norms: Array, omega: Array) -> Array:
    """Weighted KKT error ``||(w r_p, r_d / w, gap)||`` of ``norms = (r_p, r_d, gap)``."""
    return jnp.linalg.norm(norms * jnp.stack([omega, 1 / omega, jnp.ones_like(omega)]))


def _certificates(v: pb.View, st: _State) -> tuple[tuple[pb.Point, pb.Certificate], tuple[pb.Point, pb.Certificate]]:
    """The best dual and primal ray among the last step, the change since the last restart and the iterate itself.

    Returned as points (the other half zero) with their certificates' ratios (:mod:`.problem`).
    """
    zero_x, zero_y = jnp.zeros_like(st.cur.x), jnp.zeros_like(st.cur.y)
    best_y = best_x = None
    for dx, dy in ((st.step_x, st.step_y), (st.cur.x - st.last.x, st.cur.y - st.last.y), (st.cur.x, st.cur.y)):
        y_ray, x_ray = pb.project_dual(v, dy), pb.recession(v, dx)
        y_cert = pb.Point(zero_x, y_ray, zero_y, pb.KT(v, y_ray), zero_x)
        x_cert = pb.Point(x_ray, zero_y, pb.K(v, x_ray), zero_x, pb.P(v, x_ray))
        found_y = (y_cert, pb.infeasibility(v, y_ray, y_cert.KTy))
        found_x = (x_cert, pb.unboundedness(v, x_ray, x_cert.Kx, x_cert.Px))
        best_y = found_y if best_y is None else _select(found_y[1].ratio < best_y[1].ratio, found_y, best_y)
        best_x = found_x if best_x is None else _select(found_x[1].ratio < best_x[1].ratio, found_x, best_x)
    return best_y, best_x


def _evaluate(v: pb.View, st: _State, tol: Array) -> _State:
    """The stopping tests, then (still running) the restart test, at the current and average iterates."""
    opt_cur, opt_avg = pb.optimality(v, st.cur), pb.optimality(v, st.avg)
    (y_cert, infeasible), (x_cert, unbounded) = _certificates(v, st)
    take_avg = opt_avg.relative < opt_cur.relative
    residual = jnp.minimum(opt_avg.relative, opt_cur.relative)
    finite = jnp.all(jnp.isfinite(st.cur.x)) & jnp.all(jnp.isfinite(st.cur.y)) & jnp.isfinite(opt_cur.relative)
    # A ray proves unboundedness only for a feasible problem: UNBOUNDED waits while a Farkas certificate is forming
    # too, and until the iterate itself nearly holds the constraints (a problem that is infeasible and has a ray is
    # INFEASIBLE).
    ray = (unbounded.ratio <= tol) & ~(infeasible.ratio <= jnp.sqrt(tol)) & \
        (pb.primal_relative(v, pb.primal_residual(v, st.cur.Kx - v.q)) <= jnp.sqrt(tol))
    code = jnp.where(~finite, NUMERICAL_ERROR,
                     jnp.where(residual <= tol, SOLVED,
                               jnp.where(infeasible.ratio <= tol, INFEASIBLE,
                                         jnp.where(ray, UNBOUNDED, _RUNNING)))).astype(jnp.int32)
    answer = _select(code == INFEASIBLE, y_cert, _select(code == UNBOUNDED, x_cert,
                                                         _select(take_avg & (code == SOLVED), st.avg, st.cur)))
    ratio_residual = jnp.where(code == INFEASIBLE, infeasible.ratio,
                               jnp.where(code == UNBOUNDED, unbounded.ratio, residual))
    done = st._replace(cur=answer, code=code, residual=ratio_residual)

    use_avg = _kkt(jnp.stack([opt_avg.primal, opt_avg.dual, opt_avg.gap]), st.omega) < \
        _kkt(jnp.stack([opt_cur.primal, opt_cur.dual, opt_cur.gap]), st.omega)
    cand, cand_opt = _select(use_avg, st.avg, st.cur), _select(use_avg, opt_avg, opt_cur)
    cand_norms = jnp.stack([cand_opt.primal, cand_opt.dual, cand_opt.gap])
    last_kkt = _kkt(st.last_norms, st.omega)
    ratio = jnp.where(last_kkt > 0, _kkt(cand_norms, st.omega) / jnp.where(last_kkt > 0, last_kkt, 1), 0)
    restart = ((ratio <= SUFFICIENT) | ((ratio <= NECESSARY) & (ratio > st.last_ratio))
               | (st.inner >= ARTIFICIAL * st.steps)) & ~st.steady
    dx, dy = jnp.linalg.norm(cand.x - st.last.x), jnp.linalg.norm(cand.y - st.last.y)
    tiny = jnp.finfo(dx.dtype).eps
    moved = (dx > tiny) & (dy > tiny)
    estimate = jnp.log(jnp.where(moved, dy, 1)) - jnp.log(jnp.where(moved, dx, 1))
    smoothed = jnp.exp(WEIGHT_SMOOTHING * estimate + (1 - WEIGHT_SMOOTHING) * jnp.log(st.omega))
    omega = jnp.where(moved & ~st.steady, smoothed, st.omega)
    steady = st.steady | (jnp.minimum(infeasible.ratio, unbounded.ratio) <= STEADY)
    restarted = st._replace(cur=cand, avg=cand, last=cand, weight_sum=jnp.zeros_like(st.weight_sum), omega=omega,
                            last_norms=cand_norms, last_ratio=jnp.ones_like(ratio), inner=jnp.zeros_like(st.inner),
                            residual=residual, steady=steady)
    running = st._replace(last_ratio=ratio, residual=residual, steady=steady)
    return _select(code != _RUNNING, done, _select(restart, restarted, running))


def _conclude(v: pb.View, st: _State, tol: Array) -> tuple[PDLPPoint, PDLPAux]:
    """The returned point and its status, confirmed with the original matrices on the data as given.

    A solution the loop found must meet ``tol`` there too, a certificate likewise (else INACCURATE); a
    loop out of steps returns the better of its current and average iterates, SOLVED if that meets ``tol``.
    """
    running = st.code == _RUNNING
    take_avg = running & (pb.optimality(v, st.avg).relative < pb.optimality(v, st.cur).relative)
    scaled = _select(take_avg, st.avg, st.cur)
    original = pb.view(v.problem, jnp.ones_like(v.d), jnp.ones_like(v.e))
    x, y = v.e * scaled.x, v.d * scaled.y
    ray = (st.code == INFEASIBLE) | (st.code == UNBOUNDED)
    x = jnp.where(ray, x, jnp.clip(x, v.problem.lower, v.problem.upper))  # rounding of e * (u / e)
    z = pb.point(original, x, y)
    opt = pb.optimality(original, z)
    infeasible = pb.infeasibility(original, y, z.KTy)
    unbounded = pb.unboundedness(original, x, z.Kx, z.Px)
    code = jnp.where(running, jnp.where(opt.relative <= tol, SOLVED, MAX_ITERATIONS), st.code)
    residual = jnp.where(code == INFEASIBLE, infeasible.ratio, jnp.where(code == UNBOUNDED, unbounded.ratio,
                                                                        opt.relative))
    checked = (code == SOLVED) | (code == INFEASIBLE) | (code == UNBOUNDED)
    code = jnp.where(checked & ~(residual <= tol), INACCURATE, code)
    finite = jnp.all(jnp.isfinite(x)) & jnp.all(jnp.isfinite(y)) & jnp.isfinite(residual)
    code = jnp.where(finite, code, NUMERICAL_ERROR).astype(jnp.int32)

    ray_y, ray_x = st.code == INFEASIBLE, st.code == UNBOUNDED
    scale = jnp.where(ray_y, infeasible.objective, jnp.where(ray_x, unbounded.objective, 1))
    scale = jnp.where(scale > 0, scale, 1)
    rc = jnp.where(ray_y, infeasible.reduced_costs, jnp.where(ray_x, 0, opt.reduced_costs))
    x, y, rc = x / scale, y / scale, rc / scale
    p = v.problem.b.shape[0]
    point = PDLPPoint(x, -y[:p], y[p:], rc)
    aux = PDLPAux(st.steps, residual, code, scaled.x <= v.lower, scaled.x >= v.upper, y[p:] > 0)
    return point, aux


def _polish_due(st: _State) -> Array:
    """Whether the running loop tries to polish now (module docstring)."""
    return (st.code == _RUNNING) & (st.residual <= POLISH_FROM) & (st.steps >= POLISH_GROWTH * st.attempted)


def _attempt_polish(v: pb.View, st: _State, tol: Array, last: Array) -> _State:
    """The loop's point polished (module docstring): while running, on a MINRES budget and only when its active
    set is the one seen at the last look, where a point of residual ``POLISH_MARGIN * tol`` ends the loop; at
    the ``last`` evaluation to ``tol``, its result the loop's answer."""
    point, aux = _conclude(v, st, tol)
    seen = act.identify(v, point.x, point.lam, point.z)
    stable = jnp.all(jnp.stack([jnp.array_equal(a, b) for a, b in zip(seen, st.seen)]))
    aux = aux._replace(status=jnp.where(last, aux.status, MAX_ITERATIONS).astype(aux.status.dtype))
    unknowns = v.c.shape[0] + v.q.shape[0]
    budget = jnp.where(last, FINAL_BUDGET * unknowns, POLISH_BUDGET * st.steps)
    point, aux = lax.cond(last | stable, lambda: polished(v, point, aux, jnp.where(last, 1, POLISH_MARGIN) * tol,
                                                          budget), lambda: (point, aux))
    done = last | (aux.status == SOLVED)
    code = jnp.where(done & ~last, SOLVED, st.code).astype(st.code.dtype)
    return st._replace(code=code, attempted=st.steps, seen=seen, polished=done,
                       answer=_select(done, (point, aux), st.answer))


def _check_vector(name: str, value: Any, size: int | None) -> Array:
    """``value`` as a 1-D array (of ``size`` entries when given), else an ArgumentError naming it."""
    value = jnp.asarray(value)
    if value.ndim != 1 or (size is not None and value.shape[0] != size):
        want = "(n,)" if size is None else f"({size},)"
        raise ArgumentError(f"{name} must be a vector of shape {want}, got shape {value.shape}")
    return value


def _check_problem(c, P, A, b, G, h, lower, upper) -> pb.Problem:
    """The data as one floating dtype with consistent shapes; a typed error naming what does not fit."""
    c = _check_vector("c", c, None)
    n = c.shape[0]
    for mat, vec, mname, vname in ((A, b, "A", "b"), (G, h, "G", "h")):
        if (mat is None) != (vec is None):
            raise ArgumentError(f"{mname} and {vname} come together: got {mname}={'None' if mat is None else '...'}"
                                f" and {vname}={'None' if vec is None else '...'}")
    b = jnp.zeros((0,), c.dtype) if b is None else _check_vector("b", b, None)
    h = jnp.zeros((0,), c.dtype) if h is None else _check_vector("h", h, None)
    bounds = []
    for name, value, fill in (("lower", lower, -jnp.inf), ("upper", upper, jnp.inf)):
        value = jnp.full((n,), fill, c.dtype) if value is None else jnp.asarray(value)
        if value.ndim == 0:
            value = jnp.broadcast_to(value, (n,))
        bounds.append(_check_vector(name, value, n))
    dense = [m for m in (P, A, G) if m is not None and not isinstance(m, LinearOperator)]
    dtype = float_dtype(c, b, h, *bounds, *(m.dtype for m in dense))
    zero_rows = jnp.zeros((0, n), dtype)
    P = None if P is None else as_matrix("P", P, (n, n), dtype)
    A = zero_rows if A is None else as_matrix("A", A, (b.shape[0], n), dtype)
    G = zero_rows if G is None else as_matrix("G", G, (h.shape[0], n), dtype)
    return pb.Problem(P, c.astype(dtype), A, b.astype(dtype), G, h.astype(dtype), *(v.astype(dtype) for v in bounds))


def _check_start(init: Any, prob: pb.Problem) -> tuple[Array, Array, Array]:
    """``init``'s ``(x, nu, lam)`` as arrays of the problem's dtype and sizes; else a typed error."""
    if not isinstance(init, (tuple, list)) or len(init) < 3:
        raise ArgumentError(f"init must be (x, nu, lam) or a PDLPPoint, got {type(init).__name__}")
    sizes = {"x": prob.c.shape[0], "nu": prob.b.shape[0], "lam": prob.h.shape[0]}
    return tuple(_check_vector(f"init.{name}", jnp.asarray(value), size).astype(prob.c.dtype)
                 for (name, size), value in zip(sizes.items(), init))


def pdlp(c: Array, *, P: Any = None, A: Any = None, b: Array | None = None, G: Any = None,
         h: Array | None = None, lower: Array | None = None, upper: Array | None = None,
         tol: float | None = None, maxiter: int = 50_000, polish: bool = True, init: Any = None,
         verbose: bool = False) -> tuple[PDLPPoint, PDLPAux]:
    """Solve ``min 0.5 x'Px + c'x s.t. A x = b, G x <= h, lower <= x <= upper`` by restarted PDHG.

    ``P`` (``(n, n)``, symmetric PSD; None for an LP), ``A`` (``(p, n)``) and ``G`` (``(m, n)``) may be
    dense arrays, ``jax.experimental.sparse`` matrices or :class:`~.operators.LinearOperator`; only
    their products are used (module docstring). Operators have no entries to precondition with, so
    an operator ``A`` or ``G`` leaves the problem unscaled (an operator ``P`` only drops out of the
    column norms). ``b``, ``h`` must be finite; ``lower``/``upper`` (scalars or ``(n,)``, default
    unbounded) may be infinite and must satisfy ``lower <= upper``. Float32 data are solved in
    float32. Under ``vmap``, a loop over the instances on a CPU
    (:func:`~optdsl.runtime.solvers.base.per_instance`). The solution is differentiated implicitly
    (forward and reverse mode) in ``c``, ``b``, ``h``, the bounds and the values of ``P``, ``A``,
    ``G``: the KKT conditions of its active set, solved by MINRES or, on a CPU, a sparse LU
    (:mod:`.derivatives`); a solution that is not SOLVED has zero derivatives.

    ``status``: SOLVED when the relative primal residual, dual residual and duality gap
    (:func:`~.problem.optimality`) are all ``<= tol`` on the data as given (``tol`` default
    :func:`default_pdlp_tol`: 1e-6 in float64, 1.2e-4 in float32); INFEASIBLE with ``x = 0`` and a
    Farkas ray in the multipliers, ``b'nu + h'lam - lower'z+ + upper'z- = -1``; UNBOUNDED with a ray
    ``x`` of ``c'x = -1`` and zero multipliers (certificates to ``tol``: :func:`~.problem.infeasibility`,
    :func:`~.problem.unboundedness`); MAX_ITERATIONS after ``maxiter`` steps; INACCURATE when a
    status found on the preconditioned problem does not hold on the data as given; NUMERICAL_ERROR
    for non-finite values. ``polish``: correct a point to the exact solution of its active set's KKT
    conditions and keep that when it verifies (:mod:`.polish`), which makes values and derivatives
    accurate far below ``tol``; tried during the loop too, a verified polish ends it early (module
    docstring). ``init``: a start ``(x, nu, lam)`` (a :class:`PDLPPoint` will do), clipped to the bounds
    and to ``lam >= 0``; the default starts from zero. ``verbose``: print the residual, step size and
    primal weight every 640 steps and the final status.

    Example:
        >>> from optdsl.runtime.status import describe
        >>> point, aux = pdlp(jnp.array([1.0, 1.0]), A=jnp.array([[1.0, 2.0]]), b=jnp.array([2.0]), lower=0.0)
        >>> describe(aux.status), [round(float(v), 4) for v in point.x]
        ('solved', [0.0, 1.0])
    """
    prob = _check_problem(c, P, A, b, G, h, lower, upper)
    init = None if init is None else _check_start(init, prob)
    check_count("maxiter", maxiter, 0)
    dtype = prob.c.dtype
    tol = jnp.asarray(resolve_tol(default_pdlp_tol(dtype) if tol is None else tol, dtype), dtype)

    def period(v, tol, st):
        def step(carry):
            i, st = carry
            return i + 1, _pdhg_step(v, st)

        _, st = lax.while_loop(lambda c: (c[0] < EVAL_EVERY) & (c[1].steps < maxiter), step,
                               (jnp.zeros((), jnp.int32), st))
        st = _evaluate(v, st, tol)
        if polish:
            last = (st.code != _RUNNING) | (st.steps >= maxiter)
            st = lax.cond(last | _polish_due(st), lambda st: _attempt_polish(v, st, tol, last), lambda st: st, st)
        return st

    def log(k, st, active):
        log_iteration("pdlp", st.steps, active=active, every=10 * EVAL_EVERY, residual=st.residual, step=st.eta,
                      weight=st.omega)

    @per_instance
    def solve(prob, tol, init):
        prob, init = jax.tree_util.tree_map(lax.stop_gradient, (prob, init))
        d, e = precondition(prob.P, prob.A, prob.G, prob.c.shape[0], dtype)
        v = pb.view(prob, d, e)
        running = (lambda s: ~s.polished) if polish else (lambda s: (s.code == _RUNNING) & (s.steps < maxiter))
        st, _ = iterate(running, lambda s: period(v, tol, s), _start(v, init),
                        maxiter=max(1, -(-maxiter // EVAL_EVERY)), unroll=False, log=log if verbose else None)
        point, aux = st.answer if polish else _conclude(v, st, tol)
        return point, reported(verbose, "pdlp", aux)

    return differentiated(solve)(prob, tol, init)
