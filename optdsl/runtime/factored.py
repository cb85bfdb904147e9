"""An optimality map's Jacobian, factorised once per solve for every tangent and cotangent of implicit differentiation.

The Jacobian ``J = ∂F/∂z`` at the solution is formed next to the solution, its rows
scaled to unit max-norm, and LU-factorised; the tangent solves of
:func:`~optdsl.runtime.implicit_diff.custom_root` (its ``factored_solve``) are then
back-substitutions. A numerically singular ``J`` (tiny pivots: a free direction, a
solution or duals that are not unique) gets least-squares solves of least norm
instead (:func:`~optdsl.runtime.solvers.base.lu_solve_or_least_squares`), finite
where a plain solve gives NaN.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from optdsl.runtime.lu import LU
from optdsl.runtime.solvers.base import lu_factor_checked, lu_solve_or_least_squares, per_instance


class Factors(NamedTuple):
    """LU factors of ``M = diag(row_scale) J`` (unit max-norm rows); ``singular``: ``M`` has tiny pivots."""

    lu: LU
    row_scale: jax.Array
    singular: jax.Array


def factor(J: jax.Array) -> Factors:
    """Factorise a square Jacobian ``J`` with its rows scaled to unit max-norm (zero rows left as they are).

    >>> factor(jnp.array([[2.0, 0.0], [0.0, 0.0]])).singular.item()
    True
    """
    row = jnp.max(jnp.abs(J), axis=1)
    row_scale = 1 / jnp.where(row > 0, row, 1)
    lu, singular = lu_factor_checked(row_scale[:, None] * J)
    return Factors(lu, row_scale, singular)


def solve(factors: Factors, rhs: jax.Array, transpose: bool) -> jax.Array:
    """``J^-1 rhs`` (``J^-T rhs`` when ``transpose``); the least-squares solve of least norm where ``J`` is singular.

    Under ``vmap`` one instance after another on a CPU
    (:func:`~optdsl.runtime.solvers.base.per_instance`).

    >>> solve(factor(jnp.array([[2.0, 0.0], [0.0, 0.0]])), jnp.array([4.0, 1.0]), False).tolist()
    [2.0, 0.0]
    """
    def one(f: Factors, rhs: jax.Array) -> jax.Array:
        return lu_solve_or_least_squares(f.lu, rhs, transpose=transpose, singular=f.singular,
                                         row_scale=f.row_scale)

    return per_instance(one)(factors, rhs)
