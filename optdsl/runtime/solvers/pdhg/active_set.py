"""The active set of a PDLP point and the KKT system of that set, solved by MINRES or, on a CPU, a sparse LU.

With the active set fixed -- the bounds ``F`` fixing their variables, the active inequalities ``I``
holding as equalities, the inactive rows dropped -- the KKT conditions of
``min 0.5 x'Px + c'x s.t. A x = b, G x <= h, lower <= x <= upper`` are linear in the free columns
``x_S`` and the multipliers ``nu``, ``lam_I``::

    [ P_SS  A_S'  G_IS' ] [x_S  ]
    [ A_S    0     0    ] [nu   ]  =  right-hand side
    [ G_IS   0     0    ] [lam_I]

Two things solve it: the polish (:mod:`.polish`), which corrects a PDLP point to the exact solution of
its active set, and the implicit derivatives (:mod:`.derivatives`), which solve it for a tangent. The
matrix is symmetric and indefinite (a saddle point), so the solve is MINRES
(:func:`~optdsl.runtime.linear_solve.solve_minres`): CG needs a definite matrix, a Schur complement
needs ``P`` invertible (not for an LP) and nested solves, and the normal equations square the
condition number. For an LP at a non-degenerate vertex ``[A_S; G_IS]`` is square (a basis) and the
system splits into the basis solve and its transpose; its conditioning is the basis's.
MINRES runs on the system equilibrated by Ruiz and Pock-Chambolle passes over the active submatrix
itself (:func:`~.scaling.precondition` on the restricted data), with matrix products only. The rows
and columns outside the active set are the identity, so the shapes are static. The basis of a random
sparse LP is ill-conditioned (a condition number near 1e4 at order 3000, MINRES then takes some 16 000
steps), and incomplete LU preconditioners fail on it; a system MINRES has not solved in
:data:`LU_AFTER` steps goes to the host, to a sparse LU or LSMR (:mod:`.host_solve`).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from optdsl.runtime.implicit_diff import tangent_solve
from optdsl.runtime.linear_solve import solve_minres
from optdsl.runtime.solvers.pdhg import problem as pb
from optdsl.runtime.solvers.pdhg.operators import matvec, restrict, rmatvec
from optdsl.runtime.solvers.pdhg.scaling import precondition

Array = jax.Array
Triple = tuple[Array, Array, Array]

#: MINRES steps after which a system not yet solved goes to the host (:mod:`.host_solve`), where it can.
LU_AFTER = 1000


class ActiveSet(NamedTuple):
    """``at_lower``/``at_upper``: ``(n,)`` bool, the variable fixed on that bound; ``rows``: ``(m,)`` bool, the
    inequality rows held as equalities."""

    at_lower: Array
    at_upper: Array
    rows: Array

    @property
    def free(self) -> Array:
        """The columns ``S`` not fixed on a bound."""
        return ~(self.at_lower | self.at_upper)


def identify(v: pb.View, x: Array, lam: Array, z: Array) -> ActiveSet:
    """The active set of a point ``(x, lam, z)`` of the data as given, read in the units of the view ``v``.

    A bound is active where the variable's distance to it is below its reduced cost ``z`` (positive at a
    lower bound, negative at an upper one), an inequality row where its slack is below its multiplier:
    near a solution with strict complementarity one of the two is small and the other is not, which
    PDLP's iterate shows long before it is accurate. Both are compared after the preconditioner
    (distance ``/ e`` against ``z * e``, slack ``* d`` against ``lam / d``), the units PDLP converges in.
    """
    p = v.problem.b.shape[0]
    lower, upper = v.problem.lower, v.problem.upper
    at_lower = jnp.isfinite(lower) & ((x - lower) / v.e < z * v.e)
    at_upper = jnp.isfinite(upper) & ((upper - x) / v.e < -z * v.e) & ~at_lower
    d = v.d[p:]
    rows = (v.problem.h - matvec(v.problem.G, x)) * d < lam / d
    return ActiveSet(at_lower, at_upper, rows)


def kkt(prob: pb.Problem, x: Array, nu: Array, lam: Array) -> Triple:
    """``(P x + c + A'nu + G'lam, A x - b, G x - h)``: stationarity and the constraint rows."""
    quadratic = jnp.zeros_like(x) if prob.P is None else matvec(prob.P, x)
    return (quadratic + prob.c + rmatvec(prob.A, nu) + rmatvec(prob.G, lam),
            matvec(prob.A, x) - prob.b, matvec(prob.G, x) - prob.h)


def linear_part(prob: pb.Problem, x: Array, nu: Array, lam: Array) -> Triple:
    """:func:`kkt` without its constant terms (linear in ``(x, nu, lam)``)."""
    zero = prob._replace(c=jnp.zeros_like(prob.c), b=jnp.zeros_like(prob.b), h=jnp.zeros_like(prob.h))
    return kkt(zero, x, nu, lam)


def fixed_values(prob: pb.Problem, active: ActiveSet) -> Array:
    """The bound each fixed variable sits on, 0 on the free columns."""
    return jnp.where(active.at_lower, prob.lower, jnp.where(active.at_upper, prob.upper, 0))


def masks(prob: pb.Problem, active: ActiveSet) -> Triple:
    """Which entries of ``(x, nu, lam)`` are unknowns of the system: ``S``, every equality row, ``I``."""
    return active.free, jnp.ones(prob.b.shape, bool), active.rows


def _scaling(prob: pb.Problem, active: ActiveSet) -> Triple:
    """Diagonal equilibration of the active submatrix, as scalings of ``(x, nu, lam)``."""
    free, every, rows = masks(prob, active)
    P = None if prob.P is None else restrict(prob.P, free, free)
    d, e = precondition(P, restrict(prob.A, every, free), restrict(prob.G, rows, free), free.shape[0],
                        prob.c.dtype)
    p = prob.b.shape[0]
    return lax.stop_gradient(e), lax.stop_gradient(d[:p]), lax.stop_gradient(d[p:])


def solve(prob: pb.Problem, active: ActiveSet, rhs: Triple, tol: Array, maxiter: Array | None = None) -> Triple:
    """The unknowns ``(x_S, nu, lam_I)`` (zero elsewhere) with :func:`linear_part` ``= rhs`` on the active rows.

    MINRES runs first, for at most :data:`LU_AFTER` steps, to the relative residual ``tol`` of the equilibrated
    system; a system it has not solved by then goes to the host CPU where the matrices have entries
    (:mod:`.host_solve`: a sparse LU, or LSMR for a large system), and where the LU fails, MINRES runs again, from
    the better of the two iterates, for up to ``maxiter`` steps in all (default MINRES's own). ``maxiter`` does not
    bound the host's work: one LU, or LSMR's own limit. An answer that misses ``sqrt(tol)`` (a singular system:
    dependent active rows, a degenerate vertex) gives zero, not MINRES's growing iterate. The solve is a
    ``lax.custom_linear_solve`` (symmetric), so JAX differentiates and transposes it, never the host call.
    """
    from optdsl.runtime.solvers.pdhg import host_solve  # SciPy's sparse modules, loaded where PDLP runs

    mask, scale = masks(prob, active), _scaling(prob, active)
    factorable = host_solve.has_entries(prob)

    def system(u: Triple) -> Triple:
        x, nu, lam = (m * sc * w for m, sc, w in zip(mask, scale, u))
        out = linear_part(prob, x, nu, lam)
        return tuple(jnp.where(m, sc * o, w) for m, sc, o, w in zip(mask, scale, out, u))

    def minres(mv: Callable, b: Array, init: Array | None, steps: Array | None) -> tuple[Array, Array]:
        """MINRES's iterate and its residual norm."""
        u = solve_minres(mv, b, init=init, tol=tol, maxiter=steps)
        return u, jnp.linalg.norm(b - mv(u))

    def staged(mv: Callable, b: Array) -> Array:
        size = jnp.linalg.norm(b)
        if factorable:
            first = LU_AFTER if maxiter is None else jnp.minimum(maxiter, LU_AFTER)
            early, early_residual = minres(mv, b, None, first)
            solved = early_residual <= tol * size
            hosted, final = host_solve.solve(host_solve.entries(prob, mask, scale), jnp.concatenate(mask), b, tol,
                                             skip=solved, columns=prob.c.shape[0])
            done = solved | final
            start = jnp.where(jnp.linalg.norm(b - mv(hosted)) < early_residual, hosted, early)
            rest = None if maxiter is None else maxiter - first
            late, _ = minres(mv, jnp.where(done, 0, b), jnp.where(done, 0, start), rest)
            u = jnp.where(solved, early, jnp.where(final, hosted, late))
        else:
            u, _ = minres(mv, b, None, maxiter)
        return jnp.where(jnp.linalg.norm(b - mv(u)) <= jnp.sqrt(tol) * size, u, 0)

    b = tuple(jnp.where(m, sc * r, 0) for m, sc, r in zip(mask, scale, rhs))
    u = tangent_solve(system, b, staged, symmetric=True)
    return tuple(m * sc * w for m, sc, w in zip(mask, scale, u))
