"""Diagonal preconditioning of a PDLP problem: Ruiz equilibration, then Pock-Chambolle (alpha = 1).

The constraint matrix ``K = [A; -G]`` becomes ``diag(d) K diag(e)`` and the quadratic term
``diag(e) P diag(e)``. Ruiz passes divide every row and column by the square root of its largest
entry (a column's largest entry counts ``P`` too), which drives them towards 1; Pock-Chambolle then
divides by the square roots of the rows' and columns' 1-norms of ``K``, which bounds ``||K||_2 <= 1``.
An operator's entries are unknown: a constraint operator leaves the problem unscaled, and a quadratic
operator is left out of the column norms.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from optdsl.runtime.solvers.cone_program import inv_sqrt_norm
from optdsl.runtime.solvers.pdhg.operators import Matrix, abs_rows

Array = jax.Array

#: Ruiz passes (PDLP's default).
RUIZ_PASSES = 10


def _constraint_norms(A: Matrix, G: Matrix, d: Array, e: Array, reduce: str) -> tuple[Array, Array] | None:
    """Row and column ``reduce`` (``"max"`` or ``"sum"``) of ``|diag(d) [A; G] diag(e)|``; None for operators."""
    p = A.shape[0]
    rows = [abs_rows(A, e, reduce), abs_rows(G, e, reduce)]
    cols = [abs_rows(A, d[:p], reduce, transpose=True), abs_rows(G, d[p:], reduce, transpose=True)]
    if any(r is None for r in rows + cols):
        return None
    combine = jnp.maximum if reduce == "max" else jnp.add
    return d * jnp.concatenate(rows), e * combine(*cols)


def precondition(P: Matrix | None, A: Matrix, G: Matrix, n: int, dtype) -> tuple[Array, Array]:
    """Row scaling ``d`` of ``[A; -G]`` (``p + m``,) and column scaling ``e`` (``n``,) of the preconditioned problem."""
    d = jnp.ones((A.shape[0] + G.shape[0],), dtype)
    e = jnp.ones((n,), dtype)
    if _constraint_norms(A, G, d, e, "max") is None:
        return d, e

    def ruiz(_, scales):
        d, e = scales
        rows, cols = _constraint_norms(A, G, d, e, "max")
        quadratic = None if P is None else abs_rows(P, e, "max", transpose=True)
        if quadratic is not None:
            cols = jnp.maximum(cols, e * quadratic)
        return d * inv_sqrt_norm(rows), e * inv_sqrt_norm(cols)

    d, e = jax.lax.fori_loop(0, RUIZ_PASSES, ruiz, (d, e))
    rows, cols = _constraint_norms(A, G, d, e, "sum")
    return d * inv_sqrt_norm(rows), e * inv_sqrt_norm(cols)
