"""Newton polish of a conic solver's point: semi-smooth Newton on the embedding residual at ``tau = 1``.

ADMM (:mod:`~optdsl.runtime.solvers.conic`) pauses for it once its active set has
settled; the interior point (:mod:`~optdsl.runtime.solvers.conic_ip`) ends with it, so
that the point it returns -- and differentiates -- is exact to rounding where the
problem is regular, not only to ``tol``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from optdsl.runtime.lu import LU, lu_factor, lu_solve
from optdsl.runtime.solvers.cone_program import ScaledProblem
from optdsl.runtime.solvers.cones import Cones, project_dual_cone

Array = jax.Array

#: Shortest step the polish tries along a Newton direction (it halves from 1).
MIN_POLISH_STEP = 0.125
#: Polish passes after which an attempt that has not halved the residual gives up.
POLISH_PATIENCE = 4
#: An accepted trial whose residual is at most this fraction of its base's keeps the base's factorisation for its
#: own step (a chord step, whose rate is about that fraction); any other accepted trial factorises afresh.
CHORD_RATE = 1e-2


def newton_matrix(A: Array, v: Array, cones: Cones, shift: Array | float = 0.0) -> Array:
    """``[[s I, A' D], [-A, (1 + s) I - D]]`` with ``D = dPi*(v)`` and ``s = shift``: the Jacobian of the embedding
    residual's ``x`` and ``y`` rows at ``tau = 1`` over ``(x, v)`` (:func:`newton_polish`), shifted by ``s I``.

    ``D`` is formed one column at a time by the projection's derivative rule, and ``A' D`` as ``(D A)'``, the
    rule applied to the columns of ``A``: ``D`` is symmetric (the derivative of a projection onto a convex set),
    and ``n`` derivative evaluations of ``O(m)`` each replace a dense ``n x m x m`` product, which ``D`` (diagonal
    on the nonnegative rows, block-diagonal by cone) makes mostly zeros.
    """
    m, n = A.shape
    eye = jnp.eye(m, dtype=A.dtype)
    derivative = jax.vmap(lambda t: jax.jvp(lambda v: project_dual_cone(v, cones), (v,), (t,))[1])
    # One derivative evaluation per row of [I; A'], in one batch: the projection's derivative is traced once.
    rows = derivative(jnp.concatenate([eye, A.T]))
    return jnp.block([[shift * jnp.eye(n, dtype=A.dtype), rows[m:]], [-A, (1 + shift) * eye - rows[:m].T]])


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
    factors: LU  # of the shifted Newton matrix the direction was solved with


def newton_polish(p: ScaledProblem, cones: Cones, z: Array, steps: int) -> tuple[Array, Array]:
    """Semi-smooth Newton on the embedding residual at ``tau = 1``, on the scaled data; returns ``(z, Pi_C(z))``.

    ``z`` is scaled to ``tau = 1`` first. Unknowns ``(x, v)``; residual
    ``F = (A' Pi*(v) + c, -A x + b - Pi*(v) + v)`` (the ``x``, ``y`` rows of
    ``(Q - I) Pi(z) + z`` at ``w = 1``; the gap row is implied by them), with
    Jacobian ``J = [[0, A' D], [-A, I - D]]``, ``D = dPi*(v)``. The step solves
    ``(J + ||F|| I) d = -F`` by dense LU: ``D`` is symmetric with eigenvalues
    in ``[0, 1]`` (it is a projection's derivative), which makes the shifted
    matrix invertible even where ``J`` is singular (a wrong active set or a
    non-unique solution), while a shift of the order of the residual keeps the
    local convergence quadratic (Fan and Yuan's choice for Levenberg-Marquardt).
    A smaller shift, such as the squared residual, lets the step run off along
    a nearly singular direction of ``J`` once the residual is small, where a
    face of solutions meets a kink of ``Pi*``.
    Each loop pass evaluates one trial point (``steps`` passes in all). A trial
    that lowers ``||F||`` below the current point's becomes the new current
    point and its Newton step is tried next -- with the factors of the current
    point's matrix where the trial lowered ``||F||`` by :data:`CHORD_RATE` or
    more (the step they give then gains about as much again; near a solution
    that saves a factorisation or two) --; otherwise the step is halved, and
    below :data:`MIN_POLISH_STEP` the full step is taken anyway -- a jump that
    lets the piecewise-smooth ``Pi*`` change piece, as an active-set method
    would. The point with the lowest ``||F||`` seen is returned, so the result
    never has a larger residual than the start. An attempt that has not halved
    the residual after :data:`POLISH_PATIENCE` passes stops early (each pass
    costs a dense factorisation).
    """
    n, m = p.A.shape[1], p.A.shape[0]
    dtype = z.dtype
    eps = jnp.finfo(dtype).eps

    def project(v):
        return project_dual_cone(v, cones)

    def finished(st: _Polish) -> Array:
        floor = 16 * eps * (1 + jnp.max(jnp.abs(st.best[0]), initial=0) + jnp.max(jnp.abs(st.best[1])))
        stalled = (st.passes >= POLISH_PATIENCE) & ~(st.best_norm <= st.first_norm / 2)
        return (st.passes >= steps) | (st.best_norm <= floor) | stalled

    def factorise(v: Array, shift: Array) -> LU:
        return lu_factor(newton_matrix(p.A, v, cones, shift))

    def body(st: _Polish) -> _Polish:
        x, v = st.trial
        y = project(v)
        F = jnp.concatenate([p.A.T @ y + p.c, -p.A @ x + p.b - y + v])
        norm = jnp.linalg.norm(F)
        norm = jnp.where(jnp.isnan(norm), jnp.inf, norm)
        shift = jnp.where(jnp.isfinite(norm), norm, 0)
        improved = norm < st.best_norm
        best = jax.tree_util.tree_map(lambda new, old: jnp.where(improved, new, old), (x, v, y), st.best)
        done = st._replace(best=best, best_norm=jnp.minimum(norm, st.best_norm),
                           first_norm=jnp.where(st.passes == 0, norm, st.first_norm), passes=st.passes + 1)
        accept = st.forced | (norm < st.base_norm)
        chord = accept & ~st.forced & (norm <= CHORD_RATE * st.base_norm)
        # Nothing is factorised for a chord step, a rejected trial (its base's step is halved) or the pass that
        # ends the loop.
        factors = lax.cond(accept & ~chord & ~finished(done), factorise, lambda v, shift: st.factors, v, shift)
        newton = lu_solve(factors, -F)
        accept = accept & jnp.all(jnp.isfinite(newton))
        base = jax.tree_util.tree_map(lambda new, old: jnp.where(accept, new, old), (x, v), st.base)
        direction = jnp.where(accept, newton, st.direction)
        halved = st.length / 2
        forced = ~accept & (halved < MIN_POLISH_STEP)
        length = jnp.where(accept | forced, 1, halved).astype(dtype)
        trial = (base[0] + length * direction[:n], base[1] + length * direction[n:])
        return done._replace(base=base, base_norm=jnp.where(accept, norm, st.base_norm), direction=direction,
                             length=length, forced=forced, trial=trial, factors=factors)

    tau = z[-1]
    scale = jnp.where(tau > 0, 1 / jnp.where(tau > 0, tau, 1), 1)
    x0, v0 = z[:n] * scale, z[n:-1] * scale
    inf = jnp.asarray(jnp.inf, dtype)
    start = _Polish((x0, v0), inf, jnp.zeros((n + m,), dtype), jnp.ones((), dtype), jnp.asarray(True), (x0, v0),
                    (x0, v0, jnp.zeros((m,), dtype)), inf, inf, jnp.zeros((), jnp.int32),
                    LU(jnp.eye(n + m, dtype=dtype), jnp.arange(n + m, dtype=jnp.int32)))
    x, v, y = lax.while_loop(lambda st: ~finished(st), body, start).best
    one = jnp.ones((1,), dtype)
    return jnp.concatenate([x, v, one]), jnp.concatenate([x, y, one])
