"""Derivatives of a conic program's solution through the root of the embedding's residual map.

For ``min c'x s.t. A x + s = b, s in K`` (see :mod:`optdsl.runtime.solvers.conic`)
a solution ``(x, y, s)`` is encoded as ``z = (u, v, w) = (x, y - s, 1)``: by
Moreau's decomposition ``y = Pi_{K*}(v)`` and ``s = Pi_{K*}(v) - v``. With the
skew-symmetric ``Q = [[0, A', c], [-A, 0, b], [-c', -b', 0]]`` and ``Pi`` the
projection onto ``R^n x K* x R_+``, ``z`` is a root of the residual map

    N(z; A, b, c) = ((Q - I) Pi(z) + z) / |w|

(Busseti, Moursi, Boyd 2019; Agrawal et al. 2019, the method of diffcp). The
implicit function theorem on that root gives ``dz``, and ``(dx, dy, ds)``
follows by differentiating the plain-JAX recovery of ``(x, y, s)`` from ``z``,
using the cone projections' own derivative rules -- all inside XLA.

``N`` is positively homogeneous of degree 0, so ``dN(z) z = 0``: its Jacobian is
singular along the ray of ``z`` (diffcp meets this with a least-squares
solve). Here the implicit differentiation uses ``N`` with its last entry, the
duality gap ``-c'x - b'y`` (zero at any root of the other rows because
``y's = 0``), replaced by the normalisation ``w - 1``; that map has the same
root, the same derivatives in ``(A, b, c)`` of its other rows, and the
Jacobian ``[[0, A' D, c], [-A, I - D, b], [0, 0, 1]]`` (``D = dPi_{K*}(v)``), which
is invertible at a non-degenerate solution.

Up to :data:`DENSE_MAX` unknowns that Jacobian is formed and LU-factorised once per
solve, next to the solution, and every tangent and cotangent reuses the factors.
It is singular where the solution or its duals are not unique (free directions,
dependent equality rows, a degenerate vertex); the factorisation sees that as tiny
pivots, flags the solve ``singular``, and the derivatives of that instance are
then the least-squares solutions of least norm (the pseudo-inverse), finite
where a plain solve gives NaN. Where strict complementarity fails (a dual and
its slack both zero: ``v`` at a kink of ``Pi_{K*}``) the Jacobian JAX forms takes
one element of the projection's derivative jump and may be invertible; the
solve is flagged ``singular`` all the same (:func:`~optdsl.runtime.kinks.kinked`),
since its one-sided derivatives differ. Larger systems are solved matrix-free (GMRES).

An instance that is not SOLVED (a certificate of infeasibility or unboundedness,
NaN where the certificate says nothing) is differentiated at the point
``(0, 0, 1)`` instead, and its derivatives are zero: finite, and no information.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optdsl.errors import ArgumentError
from optdsl.runtime import factored
from optdsl.runtime.implicit_diff import custom_root
from optdsl.runtime.kinks import kinked
from optdsl.runtime.linear_solve import LinearSolve
from optdsl.runtime.solvers.base import resolve_tol
from optdsl.runtime.solvers.cone_program import ConicPoint
from optdsl.runtime.solvers.cones import Cones, project_dual_cone
from optdsl.runtime.solvers.conic import conic_solve
from optdsl.runtime.solvers.conic_ip import conic_ip_solve
from optdsl.runtime.solvers.embedding_polish import newton_matrix
from optdsl.runtime.status import SOLVED

Array = jax.Array

#: Largest system, in unknowns ``n + m + 1``, whose derivatives ``linear_solve="auto"`` take from an LU of the
#: Jacobian (GMRES beyond). The LU is formed once per solve and also tells where the Jacobian is singular; GMRES
#: needs nothing stored but its step count follows the conditioning. Measured on one CPU thread, forward and backward
#: pass: on the Markowitz SOCP the two were within 15 % of each other from 605 to 3903 unknowns; on a
#: box-constrained SOCP whose solution sits at a kink of the norm, GMRES took 4 to 6 times as long as the LU
#: at 923, 1823 and 3023 unknowns (19.6 s against 3.2 s fwd+bwd at 3023).
DENSE_MAX = 4000

#: The forward solvers, by the name ``solver=`` takes: the interior point (the default) and ADMM.
SOLVERS = {"interior_point": conic_ip_solve, "hsde_admm": conic_solve}


class ConicDiffInfo(NamedTuple):
    """Report of :func:`solve_conic_diff`; traced scalars, not differentiated.

    ``iterations``, ``residual``, ``status``: the forward solve's, as in
    :class:`~optdsl.runtime.solvers.base.SolverInfo`. ``singular``: bool, the Jacobian
    of the (pinned) residual map is numerically singular at the solution, so the
    derivatives are least-squares ones, or strict complementarity fails there (always
    False for a system solved matrix-free, and for an instance that is not SOLVED).
    """

    iterations: Array
    residual: Array
    status: Array
    singular: Array


def _check_embedding(z: Array, A: Array, cones: Cones) -> None:
    m, n = A.shape
    if z.shape != (n + m + 1,):
        raise ArgumentError(f"z must have shape (n + m + 1,) = ({n + m + 1},) for A of shape {A.shape}, got {z.shape}")
    if m != cones.dim:
        raise ArgumentError(f"A has {m} rows but cones describe {cones.dim} rows ({cones})")


def conic_residual_map(z: jax.typing.ArrayLike, A: jax.typing.ArrayLike, b: jax.typing.ArrayLike,
                       c: jax.typing.ArrayLike, cones: Cones) -> Array:
    """The embedding residual ``N(z) = ((Q - I) Pi(z) + z) / |w|`` for ``z = (u, v, w)`` of shape ``(n + m + 1,)``.

    Zero exactly at ``z = (x, y - s, 1)`` (and its positive multiples) for a
    primal-dual solution ``(x, y, s)``: its rows are the dual residual
    ``A'y + c``, the primal residual ``b - A x - s`` and the gap ``-c'x - b'y``.

    Example:
        >>> A, b, c = jnp.array([[-1.0]]), jnp.array([-1.0]), jnp.array([1.0])  # min x s.t. x >= 1
        >>> conic_residual_map(jnp.array([1.0, 1.0, 1.0]), A, b, c, Cones(nonneg=1)).tolist()
        [0.0, 0.0, 0.0]
    """
    z, A, b, c = (jnp.asarray(v) for v in (z, A, b, c))
    _check_embedding(z, A, cones)
    n = A.shape[1]
    u, v, w = z[:n], z[n:-1], z[-1]
    y = project_dual_cone(v, cones)
    tau = jnp.maximum(w, 0)
    Qp = jnp.concatenate([A.T @ y + c * tau, -A @ u + b * tau, (-jnp.dot(c, u) - jnp.dot(b, y))[None]])
    projected = jnp.concatenate([u, y, tau[None]])
    return (Qp - projected + z) / jnp.abs(w)


def _pinned_residual_map(z: Array, A: Array, b: Array, c: Array, cones: Cones) -> Array:
    """:func:`conic_residual_map` with its (redundant) gap entry replaced by ``w - 1``: invertible Jacobian."""
    return conic_residual_map(z, A, b, c, cones).at[-1].set(z[-1] - 1)


def _pinned_jacobian(z: Array, A: Array, b: Array, c: Array, cones: Cones) -> Array:
    """The Jacobian ``[[0, A' D, c], [-A, I - D, b], [0, 0, 1]]`` of :func:`_pinned_residual_map` at a point with
    ``w = 1`` (the module docstring), assembled around the Newton matrix of the polish."""
    n = A.shape[1]
    size = z.shape[0]
    column = jnp.concatenate([c, b])[:, None]
    pinned = jnp.zeros((1, size), z.dtype).at[0, -1].set(1)
    return jnp.concatenate([jnp.concatenate([newton_matrix(A, z[n:-1], cones), column], axis=1), pinned])


def embedding_from_point(point: ConicPoint) -> Array:
    """``z = (x, y - s, 1)`` of a primal-dual point."""
    x, y, s = point
    return jnp.concatenate([x, y - s, jnp.ones((1,), x.dtype)])


def point_from_embedding(z: jax.typing.ArrayLike, n: int, cones: Cones) -> ConicPoint:
    """``(x, y, s) = (u, Pi_{K*}(v), Pi_{K*}(v) - v) / w`` of ``z = (u, v, w)``; ``n`` is the length of ``x``.

    Plain JAX, so derivatives flow through it by the projections' rules.

    >>> point_from_embedding(jnp.array([2.0, 3.0, -1.0, 1.0]), 2, Cones(nonneg=1))
    ConicPoint(x=Array([2., 3.], dtype=float64), y=Array([0.], dtype=float64), s=Array([1.], dtype=float64))
    """
    z = jnp.asarray(z)
    if z.ndim != 1 or z.shape[0] != n + cones.dim + 1:
        raise ArgumentError(f"z must have shape (n + cones.dim + 1,) = ({n + cones.dim + 1},), got {z.shape}")
    w = z[-1]
    v = z[n:-1]
    y = project_dual_cone(v, cones)
    return ConicPoint(z[:n] / w, y / w, (y - v) / w)


def _kink(z: Array, n: int, cones: Cones, radius: float) -> Array:
    """``v = z[n:-1]`` lies within ``radius * (1 + max|v|)`` of a kink of ``Pi_{K*}``: strict complementarity fails."""
    v = z[n:-1]
    return kinked(lambda v: project_dual_cone(v, cones), v, radius * (1 + jnp.max(jnp.abs(v), initial=0)))


def solve_conic_diff(A: jax.typing.ArrayLike, b: jax.typing.ArrayLike, c: jax.typing.ArrayLike, cones: Cones, *,
                     solver: str = "interior_point", linear_solve: str | LinearSolve = "auto",
                     init: ConicPoint | None = None, **solver_options: Any) -> tuple[ConicPoint, ConicDiffInfo]:
    """A cone program's solution, differentiable in ``A``, ``b``, ``c`` (forward and reverse).

    ``solver``: ``"interior_point"``
    (:func:`~optdsl.runtime.solvers.conic_ip.conic_ip_solve`, accurate in tens of
    iterations) or ``"hsde_admm"`` (:func:`~optdsl.runtime.solvers.conic.conic_solve`,
    first-order: cheaper per iteration, for large or low-accuracy uses). The solver
    runs under :func:`~optdsl.runtime.implicit_diff.custom_root` on
    the pinned residual map of the module docstring. ``linear_solve`` is the
    solver for the tangent systems: ``"auto"`` factorises the map's Jacobian
    once per solve (dense LU, least squares where it is singular, see the module
    docstring) up to :data:`DENSE_MAX` unknowns ``n + m + 1`` and uses GMRES beyond;
    ``"lu"`` always factorises; ``"gmres"``, ``"bicgstab"``, a callable ... solve
    matrix-free. ``solver_options`` go to the solver (``tol``, ``maxiter``, ...).
    Returns ``(ConicPoint(x, y, s), info)`` with ``info`` a :class:`ConicDiffInfo`;
    derivatives are those of a SOLVED point -- for any other status the point is
    the solver's (a certificate, or NaN) and its derivatives are zero.
    Where the solution is not unique (``info.singular``) the derivatives are least-squares
    ones; where it is not strictly complementary (``info.singular`` too) they take one
    element of the projection's derivative jump. The strict complementarity test allows
    ``tol ** 0.75`` relative to the largest entry of ``y - s`` (the point's accuracy).

    Example:
        >>> A, c = jnp.array([[-1.0], [1.0]]), jnp.array([1.0])   # min x s.t. x >= b0, x <= 3
        >>> x0 = lambda b0: solve_conic_diff(A, jnp.array([-b0, 3.0]), c, Cones(nonneg=2))[0].x[0]
        >>> round(float(jax.grad(x0)(1.0)), 6)
        1.0
    """
    if solver not in SOLVERS:
        raise ArgumentError(f"solver must be one of {list(SOLVERS)}, got {solver!r}")
    forward = SOLVERS[solver]
    A, b, c = (jnp.asarray(v) for v in (A, b, c))
    n = A.shape[1] if A.ndim == 2 else 0
    dense = linear_solve == "lu" or (linear_solve == "auto" and n + cones.dim + 1 <= DENSE_MAX)

    def optimality(z, A, b, c):
        return _pinned_residual_map(z, A, b, c, cones)

    def factored_solve(aux: tuple, rhs: Array, transpose: bool) -> Array:
        return factored.solve(aux[2], rhs, transpose)

    diff = (custom_root(optimality, has_aux=True, factored_solve=factored_solve) if dense
            else custom_root(optimality, solve=linear_solve, has_aux=True))

    radius = resolve_tol(solver_options.get("tol"), A.dtype) ** 0.75

    @diff
    def solver(start, A, b, c):
        point, info = forward(A, b, c, cones, init=start, **solver_options)
        z = embedding_from_point(point)
        z = jnp.where(info.status == SOLVED, z, jnp.zeros_like(z).at[-1].set(1))
        if not dense:
            return z, (info, point, None, jnp.asarray(False))
        return z, (info, point, factored.factor(_pinned_jacobian(z, A, b, c, cones)), _kink(z, n, cones, radius))

    z, (info, raw, factors, kink) = solver(init, A, b, c)
    solved = info.status == SOLVED
    recovered = point_from_embedding(z, n, cones)
    point = ConicPoint(*(jnp.where(solved, new, old) for new, old in zip(recovered, raw)))
    singular = solved & (factors.singular | kink) if dense else jnp.zeros_like(solved)
    return point, ConicDiffInfo(info.iterations, info.residual, info.status, singular)
