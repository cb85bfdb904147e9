"""The KKT route's solver for large LPs and QPs: PDLP on the canonical data, and the size above which it is the default.

The dense interior point factorises the ``N x N`` KKT matrix (``N = n + p + m``: variables, equality and
inequality rows) every iteration, ``N^3`` time and ``N^2`` memory; PDLP
(:func:`~optdsl.runtime.solvers.pdlp`) only multiplies by the data, ``n (n + p + m)`` a step on the
route's dense data, and is differentiated through the KKT conditions of its active set by a
matrix-free solve. It stops at a looser tolerance (1e-6 in float64 by default) than the interior
point (1e-10).
"""

from __future__ import annotations

from typing import Any, Callable

import jax.numpy as jnp
import numpy as np

from optdsl.runtime.dtypes import float_dtype
from optdsl.runtime.solvers import pdlp
from optdsl.runtime.solvers.interior_point import KKTPoint

#: Unknowns ``N = n + p + m`` of a QP's or LP's KKT system above which the KKT route runs PDLP by default.
#: Measured by ``python -m benchmarks.scale --crossover`` on one thread (``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false
#: taskset -c 1``): process CPU time of a compiled solve with its gradient, each solver at its default tolerance,
#: on seeded LPs and QPs with ``x >= 0``, ``n / 20`` equalities and ``n / 2`` inequalities
#: (:func:`benchmarks.scale.crossover_model`). PDLP was the faster on both at ``N = 816`` (LP 0.31 s against
#: 0.48 s, QP 0.04 s against 0.11 s); at ``N = 408`` the QP was twice as fast by PDLP but the LP four times slower.
PDLP_MIN_SIZE = 800


def kkt_size(n: int, p: int, m: int) -> int:
    """The size the default solver is chosen by: the KKT system's ``n + p + m``."""
    return n + p + m


def default_solver(n: int, p: int, m: int) -> str:
    """``"pdlp"`` above :data:`PDLP_MIN_SIZE` unknowns, else ``"interior_point"``."""
    return "pdlp" if kkt_size(n, p, m) > PDLP_MIN_SIZE else "interior_point"


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
