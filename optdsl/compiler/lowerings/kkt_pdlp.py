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

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from optdsl.compiler.packing import Packing
from optdsl.compiler.sparse_jacobian import jacobian
from optdsl.modeling import Expression, Variable
from optdsl.modeling.affine import Index
from optdsl.runtime.dtypes import float_dtype
from optdsl.runtime.solvers import pdlp
from optdsl.runtime.solvers.interior_point import KKTPoint
from optdsl.runtime.solvers.pdhg import LinearOperator

if TYPE_CHECKING:
    from optdsl.compiler.lowerings.kkt import Block, KKTSystem

#: Up to this many variables a QP's Hessian is passed as a dense matrix (its entries let PDLP precondition by
#: it and solve its active-set systems by a sparse LU on a CPU); above, as its product with a vector.
DENSE_HESSIAN_MAX = 2000


@dataclass(frozen=True)
class Bound:
    """An inequality of the model that PDLP keeps as bounds: ``value <= z[positions]`` (``lower``) or
    ``z[positions] <= value``, ``value`` the other side (an expression without variables)."""

    positions: np.ndarray
    shape: tuple[int, ...]
    lower: bool
    value: Expression

    @property
    def sign(self) -> float:
        """``+1`` for a lower bound (its multiplier is the reduced cost), ``-1`` for an upper one."""
        return 1.0 if self.lower else -1.0


def bounds(system: KKTSystem) -> dict[int, Bound]:
    """The inequality blocks (by index) that are bounds: one side selects distinct entries of one variable (the whole
    variable, or indexed), the other has no variables and fits that selection's shape. An entry takes at most one
    lower and one upper bound; a later one on the same entry stays a row."""
    packing = system.structure.packing
    taken: dict[bool, set[int]] = {True: set(), False: set()}
    found = {}
    for i, block in enumerate(system.inequalities):
        c = block.constraint
        for lower, selected, other in ((True, c.rhs, c.lhs), (False, c.lhs, c.rhs)):
            positions = _selection(selected, packing)
            if positions is None or other.variables() or positions.size != block.size:
                continue
            entries = set(positions.tolist())
            if len(entries) == positions.size and not taken[lower] & entries:
                taken[lower].update(entries)
                found[i] = Bound(positions, selected.shape, lower, other)
            break
    return found


def _selection(expr: Expression, packing: Packing) -> np.ndarray | None:
    """The positions in ``z`` of the entries of ``expr`` when it is a variable or an index of one, else None."""
    key = None
    if isinstance(expr, Index) and isinstance(expr.args[0], Variable):
        expr, key = expr.args[0], expr.key
    if not isinstance(expr, Variable):
        return None
    positions = np.arange(packing.slice(expr.name).start, packing.slice(expr.name).stop).reshape(expr.shape)
    return np.ravel(positions if key is None else positions[key])


def pdlp_data(system: KKTSystem, rows: Sequence[Block], params: dict, dtype: Any, quadratic: bool) -> tuple[Any, ...]:
    """``(P, q, A, b, G, h)`` of a QP for PDLP, ``G`` and ``h`` from the inequality blocks ``rows``.

    ``A`` and ``G`` are BCOO where their stored entries are fewer than half their dense size, else dense;
    ``P`` is None unless ``quadratic``.
    """
    n = system.structure.packing.size
    z0 = jnp.zeros((n,), dtype)
    P, q = system.objective_data(params, dtype, quadratic=quadratic and n <= DENSE_HESSIAN_MAX)
    if quadratic and P is None:
        P = LinearOperator((n, n), lambda p, v: jax.jvp(lambda z: jax.grad(system.f)(z, p), (jnp.zeros_like(v),),
                                                        (v,))[1], data=params)
    A = _matrix(system.equalities, system, params, dtype)
    G = _matrix(rows, system, params, dtype)
    return P, q, A, -system.H(z0, params), G, -system.stack(rows, z0, params)


def _matrix(blocks: Sequence[Block], system: KKTSystem, params: dict, dtype: Any) -> Any:
    J = jacobian([b.constraint.lhs - b.constraint.rhs for b in blocks], system.structure.packing, params, dtype)
    return J.bcoo() if 2 * J.nse < J.size * J.n else J.todense(dtype)


def pdlp_solve(system: KKTSystem, linear: bool, options: dict[str, Any]) -> Callable[[Any, dict], tuple[KKTPoint, Any]]:
    """``(start, params) -> (KKTPoint, PDLPAux)``: PDLP on :func:`pdlp_data` (no ``P`` for an LP).

    The inequalities that are :func:`bounds` (the sign constraints of ``nonneg`` / ``nonpos`` variables among
    them) become PDLP's bounds, which it keeps by projection, and their multipliers are read off its reduced
    costs. A ``start`` (a warm start's KKT point) is PDLP's first iterate, without the bounds' multipliers.
    Derivatives flow from pdlp's implicit ones through the data to the parameters by ordinary autodiff.
    """
    n = system.structure.packing.size
    kept = bounds(system)
    rows = [b for i, b in enumerate(system.inequalities) if i not in kept]
    sizes = [b.size for b in system.inequalities]
    owner = np.repeat(np.arange(len(sizes)), sizes)  # the block of each entry of the KKT point's ``lam``
    in_rows = np.flatnonzero(~np.isin(owner, list(kept)))
    at_bounds = [(np.flatnonzero(owner == i), bound) for i, bound in kept.items()]

    def limits(params: dict, dtype: Any) -> tuple[jax.Array, jax.Array]:
        lower, upper = jnp.full((n,), -jnp.inf, dtype), jnp.full((n,), jnp.inf, dtype)
        for bound in kept.values():
            value = jnp.ravel(jnp.broadcast_to(bound.value.evaluate(params, dtype=dtype), bound.shape))
            if bound.lower:
                lower = lower.at[bound.positions].set(value)
            else:
                upper = upper.at[bound.positions].set(value)
        return lower, upper

    def solve(start: Any, params: dict) -> tuple[KKTPoint, Any]:
        dtype = float_dtype(*(v.dtype for v in params.values())) if start is None else start.x.dtype
        P, q, A, b, G, h = pdlp_data(system, rows, params, dtype, quadratic=not linear)
        lower, upper = limits(params, dtype)
        init = None if start is None else (start.x, start.nu, start.lam[in_rows])
        point, aux = pdlp(q, P=P, A=A, b=b, G=G, h=h, lower=lower, upper=upper, init=init, **options)
        lam = jnp.zeros((system.n_ineq,), point.lam.dtype).at[in_rows].set(point.lam)
        for where, bound in at_bounds:
            lam = lam.at[where].set(jnp.maximum(bound.sign * point.z[bound.positions], 0))
        return KKTPoint(point.x, point.nu, lam), aux

    return solve


def overdetermined(aux: Any, n: int, n_eq: int) -> jax.Array:
    """Whether more constraints hold as equalities at PDLP's point (equality rows, active inequalities, variables on a
    bound) than there are variables: then the active set's KKT matrix is singular (a degenerate vertex) and the
    derivative does not exist."""
    held = n_eq + jnp.sum(aux.active) + jnp.sum(aux.at_lower | aux.at_upper)
    return held > n
