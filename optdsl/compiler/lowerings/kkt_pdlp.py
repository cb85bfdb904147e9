"""The KKT route's solver for large LPs and QPs: PDLP on the model's data, kept sparse.

The dense interior point factorises the ``N x N`` KKT matrix (``N = n + p + m``: variables, equality and
inequality rows) every iteration, ``N^3`` time and ``N^2`` memory; PDLP
(:func:`~optdsl.runtime.solvers.pdlp`) only multiplies by the data, and is differentiated through the
KKT conditions of its active set. The constraint matrices are built from their non-zeros
(:mod:`optdsl.compiler.sparse_jacobian`) and passed as BCOO matrices where that stores fewer than half the
dense entries (a sparse parameter, a selection of variables), dense otherwise; the objective's Hessian is
dense up to :data:`DENSE_HESSIAN_MAX` variables and a Hessian-vector product beyond. It stops at a looser
tolerance (1e-6 in float64 by default) than the interior point (1e-10) and then polishes its point on the
active set it identified, which is exact where it verifies and refused elsewhere (a degenerate vertex),
where values and gradients are only as accurate as that tolerance.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from optdsl.compiler.sparse_jacobian import jacobian
from optdsl.runtime.dtypes import float_dtype
from optdsl.runtime.solvers import pdlp
from optdsl.runtime.solvers.interior_point import KKTPoint
from optdsl.runtime.solvers.pdhg import LinearOperator

#: Up to this many variables a QP's Hessian is passed as a dense matrix (its entries let PDLP precondition by
#: it and solve its active-set systems by a sparse LU on a CPU); above, as its product with a vector.
DENSE_HESSIAN_MAX = 2000


def pdlp_data(system: Any, params: dict, dtype: Any, quadratic: bool) -> tuple[Any, ...]:
    """``(P, q, A, b, G, h)`` of a QP for PDLP, without the sign constraints' rows (they become bounds).

    ``A`` and ``G`` are BCOO where their stored entries are fewer than half their dense size, else dense;
    ``P`` is None unless ``quadratic``.
    """
    n = system.structure.packing.size
    z0 = jnp.zeros((n,), dtype)
    q = jax.grad(system.f)(z0, params)
    P = None
    if quadratic and n <= DENSE_HESSIAN_MAX:
        P = jax.hessian(system.f)(z0, params)
    elif quadratic:
        P = LinearOperator((n, n), lambda p, v: jax.jvp(lambda z: jax.grad(system.f)(z, p), (jnp.zeros_like(v),),
                                                        (v,))[1], data=params)
    rows = [b for b in system.inequalities if b.name is not None]
    A = _matrix(system.equalities, system, params, dtype)
    G = _matrix(rows, system, params, dtype)
    h = -system.stack(rows, z0, params)
    return P, q, A, -system.H(z0, params), G, h


def _matrix(blocks: Sequence[Any], system: Any, params: dict, dtype: Any) -> Any:
    J = jacobian([b.constraint.lhs - b.constraint.rhs for b in blocks], system.structure.packing, params, dtype)
    return J.bcoo() if 2 * J.nse < J.size * J.n else J.todense(dtype)


def pdlp_solve(system: Any, linear: bool, options: dict[str, Any]) -> Callable[[Any, dict], tuple[KKTPoint, Any]]:
    """``(start, params) -> (KKTPoint, PDLPAux)``: PDLP on :func:`pdlp_data` (no ``P`` for an LP).

    The sign constraints of ``nonneg`` / ``nonpos`` variables (the last rows of ``G``) become PDLP's bounds,
    which it keeps by projection, and their multipliers are read off its reduced costs. A ``start`` (a warm
    start's KKT point) is PDLP's first iterate, without the sign constraints' multipliers. Derivatives flow
    from pdlp's implicit ones through the canonical data to the parameters by ordinary autodiff.
    """
    packing = system.structure.packing
    signed = [v for v in system.structure.variables if v.nonneg or v.nonpos]
    slices = [(packing.slice(v.name), 1.0 if v.nonneg else -1.0) for v in signed]
    lower, upper = np.full(packing.size, -np.inf), np.full(packing.size, np.inf)
    for sl, sign in slices:
        (lower if sign > 0 else upper)[sl] = 0.0

    def solve(start: Any, params: dict) -> tuple[KKTPoint, Any]:
        dtype = float_dtype(*(v.dtype for v in params.values())) if start is None else start.x.dtype
        P, q, A, b, G, h = pdlp_data(system, params, dtype, quadratic=not linear)
        init = None if start is None else (start.x, start.nu, start.lam[:h.shape[0]])
        point, aux = pdlp(q, P=P, A=A, b=b, G=G, h=h, lower=lower.astype(dtype),
                          upper=upper.astype(dtype), init=init, **options)
        lam = jnp.concatenate([point.lam, *(sign * point.z[sl] for sl, sign in slices)])
        return KKTPoint(point.x, point.nu, lam), aux

    return solve
