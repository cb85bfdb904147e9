"""The KKT route's solver for large LPs and QPs on request (``solver="pdlp"``): PDLP on the canonical data.

The dense interior point factorises the ``N x N`` KKT matrix (``N = n + p + m``: variables, equality and
inequality rows) every iteration, ``N^3`` time and ``N^2`` memory; PDLP
(:func:`~optdsl.runtime.solvers.pdlp`) only multiplies by the data, ``n (n + p + m)`` a step on the
route's dense data, and is differentiated through the KKT conditions of its active set by a
matrix-free solve. It stops at a looser tolerance (1e-6 in float64 by default) than the interior
point (1e-10) and then polishes its point on the active set it identified, which is exact where it
verifies and refused elsewhere (a degenerate vertex), where values and gradients stay about 1e-4 from the
interior point's; it is not chosen by size.
"""

from __future__ import annotations

from typing import Any, Callable

import jax.numpy as jnp
import numpy as np

from optdsl.runtime.dtypes import float_dtype
from optdsl.runtime.solvers import pdlp
from optdsl.runtime.solvers.interior_point import KKTPoint


def pdlp_solve(system: Any, linear: bool, options: dict[str, Any]) -> Callable[[Any, dict], tuple[KKTPoint, Any]]:
    """``(start, params) -> (KKTPoint, PDLPAux)``: PDLP on ``system.qp_data`` (``P`` dropped for an LP).

    The sign constraints of ``nonneg`` / ``nonpos`` variables (the last rows of ``G``) become PDLP's bounds,
    which it keeps by projection, and their multipliers are read off its reduced costs. ``start`` is not used
    (PDLP starts cold). Derivatives flow from pdlp's implicit ones through the canonical data to the
    parameters by ordinary autodiff.
    """
    packing = system.structure.packing
    signed = [v for v in system.structure.variables if v.nonneg or v.nonpos]
    slices = [(packing.slice(v.name), 1.0 if v.nonneg else -1.0) for v in signed]
    rows = system.n_ineq - sum(sl.stop - sl.start for sl, _ in slices)
    lower, upper = np.full(packing.size, -np.inf), np.full(packing.size, np.inf)
    for sl, sign in slices:
        (lower if sign > 0 else upper)[sl] = 0.0

    def solve(start: Any, params: dict) -> tuple[KKTPoint, Any]:
        dtype = float_dtype(*(v.dtype for v in params.values()))
        Q, q, A, b, G, h = system.qp_data(params, dtype, quadratic=not linear)
        point, aux = pdlp(q, P=Q, A=A, b=b, G=G[:rows], h=h[:rows], lower=lower.astype(dtype),
                          upper=upper.astype(dtype), **options)
        lam = jnp.concatenate([point.lam, *(sign * point.z[sl] for sl, sign in slices)])
        return KKTPoint(point.x, point.nu, lam), aux

    return solve
