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

Up to ``DENSE_MAX`` unknowns that Jacobian is formed and LU-factorised once per
solve, next to the solution, and every tangent and cotangent reuses the factors.
It is singular where the solution or its duals are not unique (free directions,
dependent equality rows) or strict complementarity fails (a kink of the
model at the solution, a degenerate vertex); the factorisation sees that as tiny
pivots, flags the solve ``singular``, and the derivatives of that instance are
then the least-squares solutions of least norm (the pseudo-inverse), finite
where a plain solve gives NaN. Larger systems are solved matrix-free (GMRES).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optdsl.errors import ArgumentError
from optdsl.runtime.implicit_diff import custom_root
from optdsl.runtime.linear_solve import DENSE_MAX, LinearSolve
from optdsl.runtime.solvers.base import lu_factor_checked, lu_solve_or_least_squares, per_instance
from optdsl.runtime.solvers.cones import Cones, project_dual_cone
from optdsl.runtime.solvers.conic import ConicPoint, conic_solve
from optdsl.runtime.status import SOLVED

Array = jax.Array


class ConicDiffInfo(NamedTuple):
    """Report of :func:`solve_conic_diff`; traced scalars, not differentiated.

    ``iterations``, ``residual``, ``status``: the forward solve's, as in
    :class:`~optdsl.runtime.solvers.base.SolverInfo`. ``singular``: bool, the Jacobian
    of the (pinned) residual map is numerically singular at the solution, so the
    derivatives are least-squares ones (always False for a system solved matrix-free,
    and for a point with non-finite entries, such as a certificate).
    """

    iterations: Array
    residual: Array
    status: Array
    singular: Array


class _Factors(NamedTuple):
    """LU factors of ``M = diag(row_scale) J``, ``J`` the pinned residual map's Jacobian (unit-scale rows)."""

    lu: Array
    pivots: Array
    row_scale: Array
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


def _factor(z: Array, A: Array, b: Array, c: Array, cones: Cones) -> _Factors:
    """Factorise the Jacobian of :func:`_pinned_residual_map` at ``z``, each row scaled to unit max-norm.

    ``singular`` needs a finite Jacobian: a non-finite point (a certificate) is not a solution to differentiate.
    """
    J = jax.jacfwd(_pinned_residual_map)(z, A, b, c, cones)
    row = jnp.max(jnp.abs(J), axis=1)
    row_scale = 1 / jnp.where(row > 0, row, 1)
    lu, pivots, small = lu_factor_checked(row_scale[:, None] * J)
    return _Factors(lu, pivots, row_scale, small & jnp.all(jnp.isfinite(J)))


def _factored_solve(aux: tuple[Any, Any, _Factors], rhs: Array, transpose: bool) -> Array:
    """``J^-1 rhs`` (``J^-T rhs``) from the factors in the solver's ``aux``; one instance after another on a CPU."""
    def one(f: _Factors, rhs: Array) -> Array:
        return lu_solve_or_least_squares(f.lu, f.pivots, rhs, transpose=transpose, singular=f.singular,
                                         row_scale=f.row_scale)

    return per_instance(one)(aux[2], rhs)


def solve_conic_diff(A: jax.typing.ArrayLike, b: jax.typing.ArrayLike, c: jax.typing.ArrayLike, cones: Cones, *,
                     linear_solve: str | LinearSolve = "auto", init: ConicPoint | None = None,
                     **solver_options: Any) -> tuple[ConicPoint, ConicDiffInfo]:
    """:func:`~optdsl.runtime.solvers.conic.conic_solve`, differentiable in ``A``, ``b``, ``c`` (forward and reverse).

    The solver runs under :func:`~optdsl.runtime.implicit_diff.custom_root` on
    the pinned residual map of the module docstring. ``linear_solve`` is the
    solver for the tangent systems: ``"auto"`` factorises the map's Jacobian
    once per solve (dense LU, least squares where it is singular, see the module
    docstring) up to ``DENSE_MAX`` unknowns ``n + m + 1`` and uses GMRES beyond;
    ``"lu"`` always factorises; ``"gmres"``, ``"bicgstab"``, a callable ... solve
    matrix-free. ``solver_options`` go to ``conic_solve`` (``tol``, ``maxiter``, ...).
    Returns ``(ConicPoint(x, y, s), info)`` with ``info`` a :class:`ConicDiffInfo`;
    derivatives are those of a SOLVED point -- for any other status the point is
    the solver's (a certificate, or NaN) and its derivatives are not meaningful.
    Where the solution is not unique or not strictly complementary
    (``info.singular``) the derivatives are least-squares ones.

    Example:
        >>> A, c = jnp.array([[-1.0], [1.0]]), jnp.array([1.0])   # min x s.t. x >= b0, x <= 3
        >>> x0 = lambda b0: solve_conic_diff(A, jnp.array([-b0, 3.0]), c, Cones(nonneg=2))[0].x[0]
        >>> round(float(jax.grad(x0)(1.0)), 6)
        1.0
    """
    A, b, c = (jnp.asarray(v) for v in (A, b, c))
    n = A.shape[1] if A.ndim == 2 else 0
    factored = linear_solve == "lu" or (linear_solve == "auto" and n + cones.dim + 1 <= DENSE_MAX)

    def optimality(z, A, b, c):
        return _pinned_residual_map(z, A, b, c, cones)

    diff = (custom_root(optimality, has_aux=True, factored_solve=_factored_solve) if factored
            else custom_root(optimality, solve=linear_solve, has_aux=True))

    @diff
    def solver(start, A, b, c):
        point, info = conic_solve(A, b, c, cones, init=start, **solver_options)
        z = embedding_from_point(point)
        factors = _factor(z, A, b, c, cones) if factored else None
        return z, (info, point, factors)

    z, (info, raw, factors) = solver(init, A, b, c)
    solved = info.status == SOLVED
    recovered = point_from_embedding(z, n, cones)
    point = ConicPoint(*(jnp.where(solved, new, old) for new, old in zip(recovered, raw)))
    singular = factors.singular if factored else jnp.zeros_like(solved)
    return point, ConicDiffInfo(info.iterations, info.residual, info.status, singular)
