"""Implicit derivatives of a PDLP solution: the KKT conditions of its active set, solved matrix-free by MINRES.

At a solution of ``min 0.5 x'Px + c'x s.t. A x = b, G x <= h, lower <= x <= upper`` with strict
complementarity, the active set is locally constant: the active inequalities ``I`` hold as equalities,
the bounds ``F`` fix their variables, the inactive rows drop out. The derivative ``(dx, dnu, dlam, dz)``
for a tangent of the data then solves the linearised equations of that set, whose unknowns are ``dx``
on the free columns ``S``, ``dnu`` and ``dlam`` on ``I``::

    [ P_SS  A_S'  G_IS' ] [dx_S ]     [ t_S ]          t   = dP x + dc + dA'nu + dG'lam + P dx_F
    [ A_S    0     0    ] [dnu  ] = - [ s   ]          s   = dA x - db + A dx_F
    [ G_IS   0     0    ] [dlam ]     [ r_I ]          r   = dG x - dh + G dx_F

with ``dx_F`` the tangent of the bound each fixed variable sits on, and ``dz`` the change of the
stationarity rows on ``F``. The active set is the one :func:`~.solver.pdlp` reports (``at_lower``,
``at_upper``, ``active``). The matrix is symmetric and indefinite (a saddle point), so the solve is
MINRES (:func:`~optdsl.runtime.linear_solve.solve_minres`): CG needs a definite matrix, a Schur
complement ``C P^-1 C'`` needs ``P`` invertible (not for an LP) and nested solves, and the normal
equations square the condition number. It runs on the system scaled by the forward solve's own
diagonal preconditioner (:func:`~.scaling.precondition`, which bounds the scaled constraint matrix's
norm by 1), with only products with ``P``, ``A``, ``G`` and their transposes, to the relative residual
:data:`SOLVE_TOL_FACTOR` times the forward tolerance. The rows and columns outside the active set are
the identity, so the shapes are static.

The tangent is a ``lax.custom_linear_solve`` (symmetric, on the flattened right-hand side), so JAX
transposes it for reverse mode: one rule gives ``jvp``/``jacfwd`` and ``grad``/``vjp``/``jacrev``,
in ``c``, ``b``, ``h``, the bounds and the values of ``P``, ``A``, ``G`` (dense arrays, the ``data``
of BCOO matrices, an operator's ``data``). An instance that is not SOLVED is differentiated as zero:
finite, and no information (its status says why). So is a solve that misses ``sqrt`` of its tolerance
(a singular active-set system: dependent active constraints, a degenerate vertex), where MINRES's
iterates would grow without bound instead.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax import lax

from optdsl.runtime.implicit_diff import tangent_solve, zero_tangent
from optdsl.runtime.linear_solve import default_tol, solve_minres
from optdsl.runtime.solvers.pdhg import problem as pb
from optdsl.runtime.solvers.pdhg.operators import matvec, rmatvec
from optdsl.runtime.solvers.pdhg.scaling import precondition
from optdsl.runtime.status import SOLVED

Array = jax.Array

#: The derivative's linear solve stops at this fraction of the forward tolerance (relative residual), and
#: at ``default_tol`` of the dtype at the least: the active-set system amplifies its error like the point's.
SOLVE_TOL_FACTOR = 1e-4


def _kkt(prob: pb.Problem, x: Array, nu: Array, lam: Array) -> tuple[Array, Array, Array]:
    """``(P x + c + A'nu + G'lam, A x - b, G x - h)``: stationarity and the constraint rows."""
    quadratic = jnp.zeros_like(x) if prob.P is None else matvec(prob.P, x)
    return (quadratic + prob.c + rmatvec(prob.A, nu) + rmatvec(prob.G, lam),
            matvec(prob.A, x) - prob.b, matvec(prob.G, x) - prob.h)


def _linear_part(prob: pb.Problem, x: Array, nu: Array, lam: Array) -> tuple[Array, Array, Array]:
    """:func:`_kkt` without its constant terms (linear in ``(x, nu, lam)``)."""
    zero = prob._replace(c=jnp.zeros_like(prob.c), b=jnp.zeros_like(prob.b), h=jnp.zeros_like(prob.h))
    return _kkt(zero, x, nu, lam)


def tangent(prob: pb.Problem, point: Any, aux: Any, dprob: pb.Problem, tol: Array) -> Any:
    """The derivative of ``point`` (a ``PDLPPoint``) along the data tangent ``dprob`` (module docstring)."""
    dtype = prob.c.dtype
    solved = aux.status == SOLVED
    x, nu, lam, _ = (jnp.where(solved, v, 0) for v in point)
    free = ~(aux.at_lower | aux.at_upper)
    rows = aux.active & solved
    dx_fixed = jnp.where(solved & aux.at_lower, dprob.lower, jnp.where(solved & aux.at_upper, dprob.upper, 0))

    _, (t, s, r) = jax.jvp(lambda prob, x: _kkt(prob, x, nu, lam), (prob, x), (dprob, dx_fixed))
    p = prob.b.shape[0]
    d, e = precondition(prob.P, prob.A, prob.G, x.shape[0], dtype)
    d = lax.stop_gradient(d)
    scale = (lax.stop_gradient(e), d[:p], d[p:])
    masks = (free & solved, jnp.broadcast_to(solved, (p,)), rows)

    def system(u):
        x_, nu_, lam_ = (m * sc * v for m, sc, v in zip(masks, scale, u))
        out = _linear_part(prob, x_, nu_, lam_)
        return tuple(jnp.where(m, sc * o, v) for m, sc, o, v in zip(masks, scale, out, u))

    rhs = tuple(jnp.where(m, -sc * v, 0) for m, sc, v in zip(masks, scale, (t, s, r)))

    solve_tol = jnp.maximum(SOLVE_TOL_FACTOR * tol, default_tol(dtype))

    def minres(mv, b):
        u = solve_minres(mv, b, tol=solve_tol)
        converged = jnp.linalg.norm(b - mv(u)) <= jnp.sqrt(solve_tol) * jnp.linalg.norm(b)
        return jnp.where(converged, u, 0)

    u = tangent_solve(system, rhs, minres, symmetric=True)
    dx_free, dnu, dlam = (m * sc * v for m, sc, v in zip(masks, scale, u))
    dz = jnp.where(free | ~solved, 0, t + _linear_part(prob, dx_free, dnu, dlam)[0])
    return type(point)(dx_free + dx_fixed, dnu, dlam, dz)


def differentiated(forward: Callable[[pb.Problem, Array], tuple[Any, Any]]) -> Callable:
    """``forward(problem, tol) -> (point, aux)`` with the implicit derivative of :func:`tangent`."""

    @jax.custom_jvp
    def solve(prob: pb.Problem, tol: Array):
        return forward(prob, tol)

    @solve.defjvp
    def solve_jvp(primals, tangents):
        prob, tol = primals
        point, aux = solve(prob, tol)
        return (point, aux), (tangent(prob, point, aux, tangents[0], tol), jax.tree.map(zero_tangent, aux))

    return solve
