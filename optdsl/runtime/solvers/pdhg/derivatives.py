"""Implicit derivatives of a PDLP solution: the KKT conditions of its active set, solved for a tangent.

At a solution of ``min 0.5 x'Px + c'x s.t. A x = b, G x <= h, lower <= x <= upper`` with strict
complementarity, the active set is locally constant: the active inequalities ``I`` hold as equalities,
the bounds ``F`` fix their variables, the inactive rows drop out. The derivative ``(dx, dnu, dlam, dz)``
for a tangent of the data then solves the linearised equations of that set (:mod:`.active_set`), whose
unknowns are ``dx`` on the free columns ``S``, ``dnu`` and ``dlam`` on ``I``::

    [ P_SS  A_S'  G_IS' ] [dx_S ]     [ t_S ]          t   = dP x + dc + dA'nu + dG'lam + P dx_F
    [ A_S    0     0    ] [dnu  ] = - [ s   ]          s   = dA x - db + A dx_F
    [ G_IS   0     0    ] [dlam ]     [ r_I ]          r   = dG x - dh + G dx_F

with ``dx_F`` the tangent of the bound each fixed variable sits on, and ``dz`` the change of the
stationarity rows on ``F``. The active set is the one :func:`~.solver.pdlp` reports (``at_lower``,
``at_upper``, ``active``), the one its polish solved. The solve (:func:`~.active_set.solve`: MINRES, on a
CPU a sparse LU where MINRES is slow) stops at the relative residual
:data:`SOLVE_TOL_FACTOR` times the forward tolerance.

The solve is a ``lax.custom_linear_solve``, so JAX transposes it for reverse mode: one rule gives
``jvp``/``jacfwd`` and ``grad``/``vjp``/``jacrev``, in ``c``, ``b``, ``h``, the bounds and the values of
``P``, ``A``, ``G`` (dense arrays, the ``data`` of BCOO matrices, an operator's ``data``). An instance
that is not SOLVED is differentiated as zero: finite, and no information (its status says why). So is a
singular active-set system (dependent active constraints, a degenerate vertex), where MINRES's iterates
would grow without bound instead.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from optdsl.runtime.implicit_diff import zero_tangent
from optdsl.runtime.linear_solve import default_tol
from optdsl.runtime.solvers.pdhg import active_set as act
from optdsl.runtime.solvers.pdhg import problem as pb
from optdsl.runtime.status import SOLVED

Array = jax.Array

#: The derivative's linear solve stops at this fraction of the forward tolerance (relative residual), and
#: at ``default_tol`` of the dtype at the least: the active-set system amplifies its error like the point's.
SOLVE_TOL_FACTOR = 1e-4


def tangent(prob: pb.Problem, point: Any, aux: Any, dprob: pb.Problem, tol: Array) -> Any:
    """The derivative of ``point`` (a ``PDLPPoint``) along the data tangent ``dprob`` (module docstring)."""
    solved = aux.status == SOLVED
    x, nu, lam, _ = (jnp.where(solved, v, 0) for v in point)
    active = act.ActiveSet(aux.at_lower, aux.at_upper, aux.active)
    dx_fixed = jnp.where(solved, act.fixed_values(dprob, active), 0)
    _, (t, s, r) = jax.jvp(lambda prob, x: act.kkt(prob, x, nu, lam), (prob, x), (dprob, dx_fixed))
    rhs = tuple(jnp.where(solved, -v, 0) for v in (t, s, r))
    solve_tol = jnp.maximum(SOLVE_TOL_FACTOR * tol, default_tol(prob.c.dtype))
    dx_free, dnu, dlam = act.solve(prob, active, rhs, solve_tol)
    dz = jnp.where(active.free | ~solved, 0, t + act.linear_part(prob, dx_free, dnu, dlam)[0])
    return type(point)(dx_free + dx_fixed, dnu, dlam, dz)


def differentiated(forward: Callable[[pb.Problem, Array, Any], tuple[Any, Any]]) -> Callable:
    """``forward(problem, tol, init) -> (point, aux)`` with the implicit derivative of :func:`tangent` (the start
    ``init`` does not move the solution)."""

    @jax.custom_jvp
    def solve(prob: pb.Problem, tol: Array, init: Any):
        return forward(prob, tol, init)

    @solve.defjvp
    def solve_jvp(primals, tangents):
        prob, tol, init = primals
        point, aux = solve(prob, tol, init)
        return (point, aux), (tangent(prob, point, aux, tangents[0], tol), jax.tree.map(zero_tangent, aux))

    return solve
