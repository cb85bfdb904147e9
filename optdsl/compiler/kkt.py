"""The KKT lowering: general constraints, a primal-dual interior point, and the KKT residual map.

For ``min f(z, θ)  s.t.  G(z, θ) <= 0,  H(z, θ) = 0`` (every inequality and
equality of the model, and the ``nonneg``/``nonpos`` attributes of variables,
flattened and stacked) the compiler writes the residual map over
``(z, ν, λ)``::

    F(z, ν, λ; θ) = ( ∇f + ∂Hᵀν + ∂Gᵀλ,   H,   λ ∘ G )

and attaches it to the solver with ``custom_root``. Smooth models in general
(non-convex ones included, with ``nonconvex=True``: a local solution) are
solved by the line-search primal-dual interior point. When ``f`` is quadratic and
``G``, ``H`` are affine (a QP, found by :func:`~optdsl.compiler.degree.degree`),
the QP data are read off exactly by autodiff and solved by the dense
Mehrotra interior point, whose last KKT factorisation is reused for the
implicit-differentiation solve (two triangular solves per tangent).

``diff="smoothed"`` differentiates the relaxed system ``λ ∘ G = -μ`` at
``μ = SMOOTHED_MU`` (the interior point stops on the central path there), which
stays non-singular where strict complementarity fails; in the exact mode such a
point is flagged in ``Solution.singular`` and differentiated by least squares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from optdsl.compiler.analyze import Structure
from optdsl.compiler.degree import degree
from optdsl.errors import CompileError
from optdsl.modeling import Constraint, Equality, Expression, Inequality
from optdsl.runtime.compiled import Solution
from optdsl.runtime.implicit_diff import custom_root
from optdsl.runtime.solvers.interior_point_nlp import NLPPoint, nlp_factored_solve, nlp_interior_point
from optdsl.runtime.solvers.interior_point_qp import QPPoint, qp_factored_solve, qp_interior_point

Params = dict[str, jax.Array]
#: The barrier parameter of ``diff="smoothed"``: complementarity is relaxed to ``λ_i G_i = -μ``.
SMOOTHED_MU = 1e-6


@dataclass(frozen=True)
class Block:
    """Rows of ``G`` or ``H`` that come from one constraint (or one variable attribute)."""

    body: Callable[[dict[str, jax.Array], Any], jax.Array]  # values -> flat rows
    size: int
    constraint: Constraint | None  # None for a variable attribute
    name: str | None
    shape: tuple[int, ...]


@dataclass(frozen=True)
class KKTSystem:
    """``f``, ``G``, ``H`` of a model as functions of the packed variables and the parameters."""

    structure: Structure
    equalities: tuple[Block, ...]
    inequalities: tuple[Block, ...]
    is_qp: bool

    @property
    def n_eq(self) -> int:
        """Number of scalar equality rows (multipliers ``ν``)."""
        return sum(b.size for b in self.equalities)

    @property
    def n_ineq(self) -> int:
        """Number of scalar inequality rows (multipliers ``λ``)."""
        return sum(b.size for b in self.inequalities)

    def f(self, z: jax.Array, params: Params) -> jax.Array:
        s = self.structure
        return s.sense * s.problem.objective.expr.evaluate({**params, **s.packing.unpack(z)}, dtype=z.dtype)

    def _stack(self, blocks: tuple[Block, ...], z: jax.Array, params: Params) -> jax.Array:
        values = {**params, **self.structure.packing.unpack(z)}
        rows = [b.body(values, z.dtype) for b in blocks]
        return jnp.concatenate(rows) if rows else jnp.zeros((0,), z.dtype)

    def H(self, z: jax.Array, params: Params) -> jax.Array:
        return self._stack(self.equalities, z, params)

    def G(self, z: jax.Array, params: Params) -> jax.Array:
        return self._stack(self.inequalities, z, params)

    def residual(self, mu: float) -> Callable[[QPPoint, Params], QPPoint]:
        """``F(z, ν, λ; θ)`` (with ``λ ∘ G + μ`` as the last block)."""

        def F(point: QPPoint, params: Params) -> QPPoint:
            z, nu, lam = point
            grad = jax.grad(self.f)(z, params)
            h, h_vjp = jax.vjp(lambda x: self.H(x, params), z)
            g, g_vjp = jax.vjp(lambda x: self.G(x, params), z)
            return type(point)(grad + h_vjp(nu)[0] + g_vjp(lam)[0], h, lam * g + mu)

        return F

    def qp_data(self, params: Params, dtype: Any) -> tuple[jax.Array, ...]:
        """``(Q, q, A, b, G, h)``, exact for a QP: derivatives of ``f``, ``H``, ``G`` at ``z = 0``."""
        z0 = jnp.zeros((self.structure.packing.size,), dtype)
        q = jax.grad(self.f)(z0, params)
        Q = jax.hessian(self.f)(z0, params)
        A = jax.jacfwd(self.H)(z0, params).reshape(-1, z0.shape[0])
        G = jax.jacfwd(self.G)(z0, params).reshape(-1, z0.shape[0])
        return Q, q, A, -self.H(z0, params), G, -self.G(z0, params)

    def duals(self, point: QPPoint) -> dict[str, jax.Array]:
        """Dual values by constraint name (``ν`` for equalities, ``λ >= 0`` for inequalities)."""
        out = {}
        for blocks, values in ((self.equalities, point.nu), (self.inequalities, point.lam)):
            start = 0
            for b in blocks:
                if b.constraint is not None:
                    out[b.name] = values[start:start + b.size].reshape(b.shape)
                start += b.size
        return out


def _body(lhs: Expression, rhs: Expression) -> Callable:
    return lambda values, dtype: jnp.ravel(lhs.evaluate(values, dtype=dtype) - rhs.evaluate(values, dtype=dtype))


def _attribute(name: str, sign: float) -> Callable:
    return lambda values, dtype: jnp.ravel(sign * jnp.asarray(values[name], dtype))


def kkt_system(structure: Structure) -> KKTSystem:
    """The KKT form of a model whose objective is smooth and whose constraints are all (in)equalities."""
    problem = structure.problem
    if not problem.objective.expr.is_smooth():
        raise CompileError("the KKT lowering needs a smooth objective; "
                           f"{problem.objective.expr} is not (use method='conic' for non-smooth convex models)")
    equalities, inequalities = [], []
    for name, c in problem.named_constraints().items():
        if not isinstance(c, (Equality, Inequality)):
            raise CompileError(f"the KKT lowering takes == and <= constraints; {c} is a cone constraint "
                               "(use method='conic')")
        if not (c.lhs.is_smooth() and c.rhs.is_smooth()):
            raise CompileError(f"the KKT lowering needs smooth constraint functions; {c} is not "
                               "(use method='conic')")
        size = math.prod(c.dual_shape)
        block = Block(_body(c.lhs, c.rhs), size, c, name, c.dual_shape)
        (equalities if isinstance(c, Equality) else inequalities).append(block)
    for v in structure.variables:
        if v.nonneg or v.nonpos:
            size = math.prod(v.shape)
            inequalities.append(Block(_attribute(v.name, -1.0 if v.nonneg else 1.0), size, None, None, v.shape))
    quadratic = degree(problem.objective.expr) is not None
    affine = all(degree(b.constraint.lhs) in (0, 1) and degree(b.constraint.rhs) in (0, 1)
                 for b in (*equalities, *inequalities) if b.constraint is not None)
    return KKTSystem(structure, tuple(equalities), tuple(inequalities), quadratic and affine)


def _qp_solver(system: KKTSystem, mu: float, tol: float | None, maxiter: int | None) -> Callable:
    options = {"tol": tol, "maxiter": maxiter or 100, "mu_target": mu or None}

    @custom_root(system.residual(mu), has_aux=True, factored_solve=qp_factored_solve)
    def solve(init, params):
        return qp_interior_point(*system.qp_data(params, init.x.dtype), **options)

    return solve


def _nlp_solver(system: KKTSystem, tol: float | None, maxiter: int | None) -> Callable:
    m, p = system.n_ineq, system.n_eq
    options = {"tol": tol, "maxiter": maxiter or 200, "m": m, "p": p}

    @custom_root(system.residual(0.0), has_aux=True, factored_solve=nlp_factored_solve)
    def solve(init, params):
        return nlp_interior_point(system.f, system.G if m else None, system.H if p else None, init.x, params,
                                  **options)

    return solve


def make_run(system: KKTSystem, *, diff: str, tol: float | None,
             maxiter: int | None) -> Callable[[Params, Any, Any], Solution]:
    """``run(params, init, dtype) -> Solution``: the QP interior point, or the NLP one for other smooth models."""
    mu = SMOOTHED_MU if diff == "smoothed" else 0.0
    if diff == "smoothed" and not system.is_qp:
        raise CompileError("diff='smoothed' is available for QPs (quadratic objective, affine constraints)")
    solve = _qp_solver(system, mu, tol, maxiter) if system.is_qp else _nlp_solver(system, tol, maxiter)
    structure = system.structure
    m, p = system.n_ineq, system.n_eq
    dual_keys = tuple((id(c), n) for n, c in structure.problem.named_constraints().items())

    def run(params: Params, init: Any, dtype: Any) -> Solution:
        z0 = jnp.zeros((structure.packing.size,), dtype)
        if init is not None:
            z0 = jax.lax.stop_gradient(structure.packing.pack(init.values).astype(dtype))
        start = (QPPoint if system.is_qp else NLPPoint)(z0, jnp.zeros((p,), dtype), jnp.zeros((m,), dtype))
        point, aux = solve(start, params)
        values = structure.packing.unpack(point.x)
        residual = jnp.linalg.norm(ravel_pytree(
            system.residual(mu)(jax.lax.stop_gradient(point), jax.lax.stop_gradient(params)))[0])
        objective = structure.problem.objective.expr.evaluate({**params, **values}, dtype=dtype)
        return Solution(values, objective, aux.status, residual, aux.iterations, system.duals(point), dual_keys,
                        aux.singular)

    return run
