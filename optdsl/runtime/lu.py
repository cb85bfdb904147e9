"""Dense LU factors that carry their row permutation and are stored transposed, for fast triangular solves.

``jax.scipy.linalg.lu_factor`` keeps LAPACK's pivots, the row swaps in the order they were made, and every
``lu_solve`` turns them into a permutation again, on a CPU by a loop of one step per row. The solvers here
solve several right-hand sides with each factorisation (a Newton step and its refinement, every tangent of
implicit differentiation), so the permutation is formed once, with the factors.

The factors are kept as the transpose of LAPACK's combined ``L\\U`` matrix. LAPACK writes it column by column;
its transpose, in the row-major layout XLA gives an array that crosses a loop or a program boundary (a loop's
carry, a solver's auxiliary output read by the backward pass), is the same memory, and the triangular solves read
it as LAPACK left it. Kept untransposed, those boundaries store it row-major, and XLA's CPU triangular solve then
transposes it again at every solve. Measured on one CPU thread with the factors passed into the program, one solve
of order 604 took 0.23 ms instead of 0.64 ms, of order 1200 0.79 ms instead of 4.9 ms.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
from jax import lax

Array = jax.Array


class LU(NamedTuple):
    """The factors of ``M[perm] = L U``: ``lu_t`` is the transpose of the matrix that holds ``U`` and the part of
    ``L`` below its unit diagonal."""

    lu_t: Array
    perm: Array

    @property
    def lu(self) -> Array:
        """``U`` and ``L`` below its unit diagonal, in one matrix."""
        return self.lu_t.T

    def matrix(self) -> Array:
        """``M`` rebuilt from the factors."""
        n = self.lu_t.shape[0]
        lu = self.lu
        product = (jnp.tril(lu, -1) + jnp.eye(n, dtype=lu.dtype)) @ jnp.triu(lu)
        return jnp.zeros_like(product).at[self.perm].set(product)


def lu_factor(M: Array) -> LU:
    """LU factors of a square ``M`` with partial pivoting, and their permutation."""
    lu, _, perm = lax.linalg.lu(M)
    return LU(lu.T, perm)


def lu_solve(factors: LU, b: Array, transpose: bool = False) -> Array:
    """``M^-1 b`` (``M^-T b`` when ``transpose``) for ``b`` of shape ``(n,)`` or ``(n, k)``."""
    lu, perm = factors.lu, factors.perm
    if transpose:
        y = jsl.solve_triangular(lu, b, trans=1, lower=False)
        y = jsl.solve_triangular(lu, y, trans=1, lower=True, unit_diagonal=True)
        return jnp.zeros_like(y).at[perm].set(y)
    y = jsl.solve_triangular(lu, b[perm], lower=True, unit_diagonal=True)
    return jsl.solve_triangular(lu, y, lower=False)
