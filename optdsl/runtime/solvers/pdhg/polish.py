"""The polish of a PDLP point: the exact solution of its active set's KKT conditions, kept only when it verifies.

PDLP stops at a relative KKT residual of about 1e-6, where its values and gradients are still about 1e-4
from exact. Its iterate shows the active set long before it is accurate (:func:`~.active_set.identify`),
and with that set fixed the KKT conditions are linear: one Newton step from the PDLP point, a correction
solved by MINRES or a sparse LU (:func:`~.active_set.solve`), lands on their solution -- as the dense
interior point's polish does with an LU. The polished point is then judged by the test that judges
PDLP's own (:func:`~.problem.optimality` on the data as given, after clipping ``x`` to its bounds and
raising the multipliers of the inequalities to 0): a wrong guess of the set (a multiplier or reduced
cost of the wrong sign, a dropped row that is violated) fails it, and PDLP's point stays with its status.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from optdsl.runtime.solvers.pdhg import active_set as act
from optdsl.runtime.solvers.pdhg import problem as pb
from optdsl.runtime.status import INACCURATE, MAX_ITERATIONS, SOLVED

Array = jax.Array

#: Relative residual the correction is solved to: PDLP's residual times this is the polished point's.
POLISH_SOLVE_TOL = 1e-7


def polish(v: pb.View, point: Any, aux: Any, tol: Array, maxiter: Array | None = None) -> tuple[Any, Any]:
    """``(point, aux)`` of :func:`~.solver.pdlp` replaced by the polished point where that verifies (module docstring).

    Accepted when its relative residual is ``<= tol`` and, if PDLP's point was already SOLVED, smaller than
    that point's; the status is then SOLVED and the active set reported is the one polished. Certificates of
    infeasibility or unboundedness and non-finite points are kept as they are. ``maxiter``: MINRES steps the
    correction may take (default MINRES's own); a sparse LU, where the solve takes one, is not counted.
    """
    prob = v.problem
    active = act.identify(v, point.x, point.lam, point.z)
    x = jnp.where(active.free, point.x, act.fixed_values(prob, active))
    lam = jnp.where(active.rows, point.lam, 0)
    rhs = tuple(-r for r in act.kkt(prob, x, point.nu, lam))
    dx, dnu, dlam = act.solve(prob, active, rhs, jnp.asarray(POLISH_SOLVE_TOL, x.dtype), maxiter)
    x = jnp.clip(x + dx, prob.lower, prob.upper)
    nu, lam = point.nu + dnu, jnp.maximum(lam + dlam, 0)
    original = pb.view(prob, jnp.ones_like(v.d), jnp.ones_like(v.e))
    opt = pb.optimality(original, pb.point(original, x, jnp.concatenate([-nu, lam])))
    polishable = (aux.status == SOLVED) | (aux.status == INACCURATE) | (aux.status == MAX_ITERATIONS)
    accept = polishable & (opt.relative <= tol) & ~((aux.status == SOLVED) & (opt.relative >= aux.residual))
    polished = type(point)(x, nu, lam, opt.reduced_costs)
    point = jax.tree.map(lambda a, b: jnp.where(accept, a, b), polished, point)
    aux = aux._replace(residual=jnp.where(accept, opt.relative, aux.residual),
                       status=jnp.where(accept, SOLVED, aux.status).astype(aux.status.dtype),
                       at_lower=jnp.where(accept, active.at_lower, aux.at_lower),
                       at_upper=jnp.where(accept, active.at_upper, aux.at_upper),
                       active=jnp.where(accept, active.rows, aux.active))
    return point, aux
