"""The KKT system of ``min f(x, params) s.t. g(x, params) <= 0, h_eq(x, params) = 0``: point, residual, Jacobian.

:func:`kkt_residual` is the one KKT residual map of the package, over the point
``z = (x, nu, lam)`` (:class:`KKTPoint`)::

    F(x, nu, lam) = (grad f + Jh' nu + Jg' lam,  h_eq(x),  lam * g(x) + mu)

with ``mu = 0`` at a KKT point and ``mu > 0`` on the central path. Both interior
points return a root of it, and it is their optimality map for implicit
differentiation; a QP is the case ``f = 0.5 x'Qx + q'x, g = G x - h, h_eq = A x - b``.
Its Jacobian::

    J = [[H, Jh', Jg'], [Jh, 0, 0], [diag(lam) Jg, 0, diag(g)]]     (H the Lagrangian Hessian)

is assembled by :func:`kkt_jacobian` from autodiff derivatives of the same
Lagrangian. :func:`factor_kkt` factorises it once at a returned point;
:func:`kkt_factored_solve` then costs back-substitutions only (the
``factored_solve`` of :func:`optdsl.runtime.implicit_diff.custom_root`).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from optdsl.runtime.lu import LU
from optdsl.runtime.solvers.base import lu_factor_checked, lu_solve_or_least_squares, per_instance

#: ``fun(x, params)``: the objective (a scalar) or a constraint function (a flat vector).
Fun = Callable[[jax.Array, Any], jax.Array]


class KKTPoint(NamedTuple):
    """Primal-dual point: ``x`` (n,), ``nu`` (p,) for ``h_eq(x) = 0``, ``lam >= 0`` (m,) for ``g(x) <= 0``."""

    x: jax.Array
    nu: jax.Array
    lam: jax.Array


class KKTJacobian(NamedTuple):
    """The Jacobian ``J`` of :func:`kkt_residual` over ``(x, nu, lam)`` by its blocks (module docstring).

    ``H``: the Lagrangian Hessian (n, n); ``A``: the Jacobian of ``h_eq`` (p, n); ``G``: the
    Jacobian of ``g`` (m, n); ``g``: the values ``g(x)`` (m,); ``lam``: the multipliers (m,).
    """

    H: jax.Array
    A: jax.Array
    G: jax.Array
    g: jax.Array
    lam: jax.Array

    def matrix(self) -> jax.Array:
        """``J`` as one dense ``(N, N)`` matrix, ``N = n + p + m``."""
        p, m = self.A.shape[0], self.G.shape[0]
        zeros = lambda r, c: jnp.zeros((r, c), self.H.dtype)
        return jnp.block([[self.H, self.A.T, self.G.T],
                          [self.A, zeros(p, p), zeros(p, m)],
                          [self.lam[:, None] * self.G, zeros(m, p), jnp.diag(self.g)]])


def or_empty(fun: Fun | None) -> Fun:
    """``fun``, or for None (no such constraints) the function returning an empty vector."""
    if fun is None:
        return lambda x, params: jnp.zeros(0, x.dtype)
    return fun


def lagrangian(f: Fun, g: Fun | None, h_eq: Fun | None) -> Callable[[KKTPoint, Any], jax.Array]:
    """``L(point, params) = f(x) + nu'h_eq(x) + lam'g(x)``; ``g`` or ``h_eq`` None means no such constraints."""
    g, h_eq = or_empty(g), or_empty(h_eq)

    def lagrangian_value(point: KKTPoint, params: Any) -> jax.Array:
        x, nu, lam = point
        return f(x, params) + jnp.vdot(nu, h_eq(x, params)) + jnp.vdot(lam, g(x, params))

    return lagrangian_value


def kkt_residual(f: Fun, g: Fun | None, h_eq: Fun | None, mu: Any = 0.0) -> Callable[[KKTPoint, Any], KKTPoint]:
    """The KKT residual map ``F(point, params)`` of the module docstring, shaped like the point.

    ``f(x, params)`` is a scalar, ``g(x, params)`` and ``h_eq(x, params)`` flat vectors (None
    or an empty vector: no such constraints). ``mu > 0`` gives the relaxed (central-path)
    system ``lam * g = -mu``. Use it with ``custom_root(kkt_residual(f, g, h_eq, mu),
    has_aux=True, factored_solve=kkt_factored_solve)`` around a solver
    ``(init, params) -> (KKTPoint, KKTAux)``.

    Example (``min (x - c)^2 s.t. x <= 1`` at its solution ``x = 1, lam = 2`` for ``c = 2``):
        >>> F = kkt_residual(lambda x, c: jnp.sum((x - c) ** 2), lambda x, c: x - 1.0, None)
        >>> [v.tolist() for v in F(KKTPoint(jnp.array([1.0]), jnp.zeros(0), jnp.array([2.0])), 2.0)]
        [[0.0], [], [0.0]]
    """
    L = lagrangian(f, g, h_eq)
    g, h_eq = or_empty(g), or_empty(h_eq)

    def residual(point: KKTPoint, params: Any) -> KKTPoint:
        x, _, lam = point
        grad = jax.grad(lambda z: L(point._replace(x=z), params))(x)
        return KKTPoint(grad, h_eq(x, params), lam * g(x, params) + mu)

    return residual


def kkt_jacobian(f: Fun, g: Fun | None, h_eq: Fun | None) -> Callable[[KKTPoint, Any], KKTJacobian]:
    """``J(point, params)``, the Jacobian of ``kkt_residual(f, g, h_eq, mu)`` (any ``mu``) over the point.

    Assembled from ``jax.hessian`` of the same Lagrangian and ``jax.jacfwd`` of ``g`` and
    ``h_eq``: about ``n`` forward passes where differentiating ``F`` itself would take
    ``n + p + m``.
    """
    L = lagrangian(f, g, h_eq)
    g, h_eq = or_empty(g), or_empty(h_eq)

    def jacobian(point: KKTPoint, params: Any) -> KKTJacobian:
        x = point.x
        H = jax.hessian(lambda z: L(point._replace(x=z), params))(x)
        return KKTJacobian(H, jax.jacfwd(h_eq)(x, params), jax.jacfwd(g)(x, params), g(x, params), point.lam)

    return jacobian


class KKTAux(NamedTuple):
    """Solver report and KKT factorisation returned next to an interior-point solution (a pytree of arrays).

    ``iterations``, ``residual``, ``status``: as in :class:`~optdsl.runtime.solvers.base.SolverInfo`.
    ``singular``: bool, the KKT Jacobian ``J`` is (numerically) singular at the
    returned point -- strict complementarity fails for some constraint
    (``lam_i`` and ``g_i`` both ~0) or a pivot of its LU factorisation is tiny
    (dependent active constraints, a singular reduced Hessian), or (QPs) the
    refinement of a solution on its active set did not apply; implicit
    derivatives are then least-squares ones. ``kkt_lu``: LU factors of
    ``M = diag(row_scale) J`` (``N x N`` with ``N = n + p + m``). ``row_scale``: ``(N,)``,
    1 on the first ``n + p`` rows and ``1 / (lam_i + |g_i|)`` on the complementarity
    rows, so each row of ``M`` has unit scale. ``kkt_keep``: ``(N,)`` bool, False on the
    degenerate complementarity rows: :func:`kkt_factored_solve` uses the pseudo-inverse of
    ``M`` with those rows zeroed (the limit Jacobian's rows) when ``singular``.
    """

    iterations: jax.Array
    residual: jax.Array
    status: jax.Array
    singular: jax.Array
    kkt_lu: LU
    row_scale: jax.Array
    kkt_keep: jax.Array


def complementarity_sizes(jac: KKTJacobian, point: KKTPoint) -> tuple[jax.Array, jax.Array]:
    """Unit-free sizes ``(a, c)`` of each inequality's multiplier and distance to its bound, shape ``(m,)`` each.

    ``a_i = lam_i |G_i| / L`` and ``c_i = |g_i| / (|G_i| X)``: ``|G_i|`` is the row norm of the
    constraint Jacobian, ``X = max(|x|, |g_i| / |G_i|)`` a length and
    ``L = max(|A'nu + G'lam|, |H| X, lam_i |G_i|)`` (``|grad f|`` at a KKT point) a gradient
    scale, so rescaling a constraint, the objective or ``x`` changes nothing. At a KKT point
    one of the two is zero for every row; strict complementarity is the other one positive.
    """
    H, A, G, g, lam = jac
    tiny = jnp.finfo(H.dtype).tiny
    inf = lambda v: jnp.max(jnp.abs(v), initial=0)
    row = jnp.linalg.norm(G, axis=1)
    row = jnp.where(row > 0, row, 1)
    lam_size, g_size = lam * row, jnp.abs(g) / row
    length = jnp.maximum(jnp.maximum(inf(point.x), inf(g_size)), tiny)
    gradient = jnp.maximum(jnp.maximum(inf(A.T @ point.nu + G.T @ lam), inf(H) * length), inf(lam_size))
    return lam_size / jnp.maximum(gradient, tiny), g_size / length


def _row_scale(jac: KKTJacobian, degenerate: jax.Array) -> jax.Array:
    """``(N,)``: 1 on the first ``n + p`` rows and on ``degenerate`` ones, ``1 / (lam_i + |g_i|)`` on the others."""
    n, p = jac.H.shape[0], jac.A.shape[0]
    size = jac.lam + jnp.abs(jac.g)
    comp_scale = jnp.where(degenerate, 1, 1 / jnp.maximum(size, jnp.finfo(size.dtype).tiny))
    return jnp.concatenate([jnp.ones(n + p, size.dtype), comp_scale])


def _aux_fields(jac: KKTJacobian, lu: LU, pivot_small: jax.Array, degenerate: jax.Array) -> tuple:
    """The last four :class:`KKTAux` fields from LU factors of ``diag(row_scale) J`` and the degenerate rows (whose
    scale is irrelevant: the least-squares solve drops them)."""
    n, p = jac.H.shape[0], jac.A.shape[0]
    keep = jnp.concatenate([jnp.ones(n + p, bool), ~degenerate])
    return pivot_small | jnp.any(degenerate), lu, _row_scale(jac, degenerate), keep


def factor_kkt(jac: KKTJacobian, point: KKTPoint, *, exact: bool, tol: Any) -> tuple:
    """Factorise ``jac`` (the KKT Jacobian at a returned ``point``); returns the last four :class:`KKTAux` fields.

    Complementarity row ``i`` is scaled by ``1 / (lam_i + |g_i|)``. ``singular`` is set when a pivot of
    the scaled LU is below ``sqrt(eps)`` times the largest, or -- with ``exact`` (the
    residual ``lam * g = 0``, not a relaxed ``lam * g = -mu``) -- when strict
    complementarity fails: ``min(a_i, c_i) > tol^(1/4) max(a_i, c_i)`` for the unit-free
    sizes of :func:`complementarity_sizes`. On the way to a solution ``lam_i |g_i| ~ mu -> 0``:
    the ratio ``min / max`` goes to 0 where one of the two stays positive and stays of order
    one where both vanish (``lam_i = g_i = 0`` in the limit). Then the pseudo-inverse of the
    scaled matrix with those rows zeroed (the limit Jacobian's rows) gives a least-squares
    solve instead.
    """
    none = jnp.zeros_like(jac.lam, dtype=bool)
    lu, pivot_small = lu_factor_checked(_row_scale(jac, none)[:, None] * jac.matrix())
    if exact:
        a, c = complementarity_sizes(jac, point)
        degenerate = jnp.minimum(a, c) > (tol ** 0.25) * jnp.maximum(a, c)
    else:
        degenerate = none
    return _aux_fields(jac, lu, pivot_small, degenerate)


def active_set_matrix(jac: KKTJacobian, active: jax.Array) -> jax.Array:
    """The Jacobian of the active-set equations ``(grad L, h_eq, g_i (active), -lam_i (inactive)) = 0``.

    Those are the KKT conditions with the complementarity ``lam_i g_i = 0`` resolved by the
    set ``active``: the matrix is :meth:`KKTJacobian.matrix` with ``lam = active`` and
    ``g = active - 1``, and it is the limit of the row-scaled KKT Jacobian
    ``diag(1 / (lam + |g|)) J`` at a strictly complementary KKT point with that active set.
    """
    on = active.astype(jac.H.dtype)
    return jac._replace(g=on - 1, lam=on).matrix()


def factor_active_set(jac: KKTJacobian, point: KKTPoint, lu: LU, pivot_small: jax.Array,
                      active: jax.Array) -> tuple:
    """The last four :class:`KKTAux` fields at a KKT point refined on its active set, from the LU of
    :func:`active_set_matrix` (no second factorisation).

    ``jac`` is the Jacobian at the refined ``point``, where ``lam_i = 0`` off the active set and
    ``g_i`` is zero to rounding on it, so ``diag(1 / (lam + |g|)) J`` is that matrix. A row
    whose unit-free size (:func:`complementarity_sizes`: ``a_i`` on the active set, ``c_i``
    off it) is below ``sqrt(eps)`` has both ``lam_i`` and ``g_i`` zero to rounding: it is
    degenerate, ``singular`` is set and the derivative is the least-squares one.
    """
    a, c = complementarity_sizes(jac, point)
    degenerate = jnp.where(active, a, c) <= jnp.sqrt(jnp.finfo(jac.H.dtype).eps)
    return _aux_fields(jac, lu, pivot_small, degenerate)


def kkt_factored_solve(aux: KKTAux, rhs: jax.Array, transpose: bool) -> jax.Array:
    """``J^-1 rhs`` (``J^-T rhs`` when ``transpose``) from the factorisation in ``aux``; back-substitutions only.

    ``J = diag(row_scale)^-1 M``; when ``aux.singular`` the inverse of ``M`` is replaced by
    the pseudo-inverse of ``M`` with the rows ``aux.kkt_keep`` drops zeroed (a least-squares
    solve, :func:`~optdsl.runtime.solvers.base.lu_solve_or_least_squares`); forward- and
    reverse-mode derivatives agree either way. Batched, one instance after another on a
    CPU, so a singular instance's SVD is not taken for the whole batch.
    """
    def one(aux: KKTAux, rhs: jax.Array) -> jax.Array:
        return lu_solve_or_least_squares(aux.kkt_lu, rhs, transpose=transpose, singular=aux.singular,
                                         row_scale=aux.row_scale, keep=aux.kkt_keep)

    return per_instance(one)(aux, rhs)
