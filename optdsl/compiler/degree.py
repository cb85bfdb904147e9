"""Polynomial degree of an expression in the variables: 0, 1, 2, or None (not a polynomial of degree <= 2).

The KKT lowering uses it to spot QPs (quadratic objective, affine constraints),
whose data ``(Q, q, A, b, G, h)`` are then read off exactly by autodiff and
handed to the dense QP interior-point solver.
"""

from __future__ import annotations

from optdsl.modeling import Constant, Expression, Parameter, Variable
from optdsl.modeling.affine import (
    Add, Cumsum, Diag, Divide, Index, Negation, Product, Reshape, Stack, Sum, Trace, Transpose,
)
from optdsl.modeling.atoms import Power, QuadForm, QuadOverLin, Square, SumSquares

_LINEAR = (Add, Cumsum, Diag, Index, Negation, Reshape, Stack, Sum, Trace, Transpose)
_SQUARING = (SumSquares, Square)


def degree(expr: Expression) -> int | None:
    """Degree of ``expr`` as a polynomial in the variables (parameters are constants), if at most 2."""
    if isinstance(expr, Variable):
        return 1
    if isinstance(expr, (Parameter, Constant)):
        return 0
    args = [degree(a) for a in expr.args]
    if any(d is None for d in args):
        return None
    if isinstance(expr, _LINEAR):
        return max(args)
    if isinstance(expr, Product):
        total = sum(args)
    elif isinstance(expr, Divide):
        total = args[0] if args[1] == 0 else None
    elif isinstance(expr, _SQUARING) or (isinstance(expr, Power) and expr.p == 2):
        total = 2 * args[0]
    elif isinstance(expr, QuadForm):
        total = 2 * args[0] if args[1] == 0 else None
    elif isinstance(expr, QuadOverLin):
        total = 2 * args[0] if args[1] == 0 else None
    else:
        total = 0 if max(args, default=0) == 0 else None  # any atom of constants is a constant
    return total if total is not None and total <= 2 else None
