"""The KKT route: general (in)equality constraints, a primal-dual interior point, and the KKT residual map.

For ``min f(z, θ)  s.t.  G(z, θ) <= 0,  H(z, θ) = 0`` (every inequality and
equality of the model, and the sign constraints of ``nonneg``/``nonpos``
variables, flattened and stacked) the map over ``(z, ν, λ)`` is::

    F(z, ν, λ; θ) = ( ∇f + ∂Hᵀν + ∂Gᵀλ,   H,   λ ∘ G )

attached to the solver with ``custom_root``. Smooth models in general
(non-convex ones included, with ``nonconvex=True``: a local solution) are solved
by the line-search primal-dual interior point. A QP (quadratic ``f``, affine
``G`` and ``H``; see :attr:`~optdsl.compiler.analyze.Structure.is_qp`) has its
data read off exactly by autodiff and goes to the dense Mehrotra interior point,
whose last KKT factorisation is reused for the implicit-differentiation solve
(two triangular solves per tangent). A QP or LP of at least
:data:`PDLP_MIN_SIZE` KKT unknowns, or any with ``solver="pdlp"``, goes to PDLP instead
(:mod:`.kkt_pdlp`), which only multiplies by the data, kept sparse, and is differentiated through the
KKT conditions of its active set.

``diff="smoothed"`` differentiates the relaxed system ``λ ∘ G = -μ`` at
``μ = SMOOTHED_MU`` (the interior point stops on the central path there), which
stays non-singular where strict complementarity fails; in the exact mode such a
point is flagged in ``Solution.singular`` and differentiated by least squares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp

from optdsl.compiler.analyze import Structure
from optdsl.compiler.lowerings.base import Diff, Lowering, Options, Params, signature_default, warm_state
from optdsl.compiler.degree import degree
from optdsl.compiler.lowerings.first_order import aligned, variables_latex
from optdsl.compiler.lowerings.kkt_pdlp import overdetermined, pdlp_solve
from optdsl.errors import CompileError
from optdsl.modeling import Constraint, Equality, Inequality
from optdsl.runtime.compiled import Solution
from optdsl.runtime.dtypes import float_dtype
from optdsl.runtime.implicit_diff import custom_root
from optdsl.runtime.solvers import pdlp
from optdsl.runtime.solvers.pdhg import default_pdlp_tol
from optdsl.runtime.solvers.interior_point import (KKTAux, KKTPoint, kkt_factored_solve, kkt_residual,
                                                   nlp_interior_point, qp_interior_point)

#: The barrier parameter of ``diff="smoothed"``: complementarity is relaxed to ``λ_i G_i = -μ``.
SMOOTHED_MU = 1e-6

#: From this KKT size ``n + p + m`` on, an LP or QP runs on PDLP unless ``solver=`` names the interior point:
#: one thread solved and differentiated an LP of size 3264 in 23 s by the dense interior point and 5.4 s by PDLP,
#: and the dense matrices grow as the size squared (``benchmarks.scale --crossover``).
PDLP_MIN_SIZE = 4000


@dataclass(frozen=True)
class Block:
    """Rows of ``G`` or ``H`` that come from one constraint."""

    constraint: Constraint
    name: str | None  # None for a variable's sign constraint (it has no dual in the Solution)
    size: int

    def rows(self, values: dict[str, jax.Array], dtype: Any) -> jax.Array:
        c = self.constraint
        return jnp.ravel(c.lhs.evaluate(values, dtype=dtype) - c.rhs.evaluate(values, dtype=dtype))


@dataclass(frozen=True)
class KKTSystem:
    """``f``, ``G``, ``H`` of a model as functions of the packed variables and the parameters."""

    structure: Structure
    equalities: tuple[Block, ...]
    inequalities: tuple[Block, ...]

    @property
    def n_eq(self) -> int:
        """Number of scalar equality rows (multipliers ``ν``)."""
        return sum(b.size for b in self.equalities)

    @property
    def n_ineq(self) -> int:
        """Number of scalar inequality rows (multipliers ``λ``)."""
        return sum(b.size for b in self.inequalities)

    def f(self, z: jax.Array, params: Params) -> jax.Array:
        return self.structure.objective_value(z, params)

    def stack(self, blocks: Sequence[Block], z: jax.Array, params: Params) -> jax.Array:
        """The rows of ``blocks`` at ``z``, one after another."""
        values = {**params, **self.structure.packing.unpack(z)}
        rows = [b.rows(values, z.dtype) for b in blocks]
        return jnp.concatenate(rows) if rows else jnp.zeros((0,), z.dtype)

    def H(self, z: jax.Array, params: Params) -> jax.Array:
        return self.stack(self.equalities, z, params)

    def G(self, z: jax.Array, params: Params) -> jax.Array:
        return self.stack(self.inequalities, z, params)

    def residual(self, mu: float) -> Callable[[KKTPoint, Params], KKTPoint]:
        """``F(z, ν, λ; θ)`` (with ``λ ∘ G + μ`` as the last block): the runtime's KKT residual of ``f, G, H``."""
        return kkt_residual(self.f, self.G if self.n_ineq else None, self.H if self.n_eq else None, mu)

    def objective_data(self, params: Params, dtype: Any, quadratic: bool = True) -> tuple[jax.Array | None, jax.Array]:
        """``(Q, q)``, exact for a quadratic ``f``: its Hessian and gradient at ``z = 0`` (``Q`` None unless
        ``quadratic``)."""
        z0 = jnp.zeros((self.structure.packing.size,), dtype)
        return (jax.hessian(self.f)(z0, params) if quadratic else None), jax.grad(self.f)(z0, params)

    def qp_data(self, params: Params, dtype: Any) -> tuple[jax.Array, ...]:
        """``(Q, q, A, b, G, h)``, exact for a QP: derivatives of ``f``, ``H``, ``G`` at ``z = 0``."""
        z0 = jnp.zeros((self.structure.packing.size,), dtype)
        Q, q = self.objective_data(params, dtype)
        A = jax.jacfwd(self.H)(z0, params).reshape(-1, z0.shape[0])
        G = jax.jacfwd(self.G)(z0, params).reshape(-1, z0.shape[0])
        return Q, q, A, -self.H(z0, params), G, -self.G(z0, params)

    def duals(self, point: KKTPoint) -> dict[str, jax.Array]:
        """Dual values by constraint name (``ν`` for equalities, ``λ >= 0`` for inequalities)."""
        out = {}
        for blocks, values in ((self.equalities, point.nu), (self.inequalities, point.lam)):
            start = 0
            for b in blocks:
                if b.name is not None:
                    out[b.name] = values[start:start + b.size].reshape(b.constraint.dual_shape)
                start += b.size
        return out


def kkt_system(structure: Structure) -> KKTSystem:
    """The KKT form of a model whose objective is smooth and whose constraints are all (in)equalities."""
    problem = structure.problem
    if not structure.objective.is_smooth():
        raise CompileError("the KKT lowering needs a smooth objective; "
                           f"{problem.objective.expr} is not (use method='conic' for non-smooth convex models)")
    equalities, inequalities = [], []
    named = [(name, c) for name, c in problem.named_constraints().items()]
    for name, c in [*named, *((None, c) for c in structure.sign_constraints)]:
        if not isinstance(c, (Equality, Inequality)):
            raise CompileError(f"the KKT lowering takes == and <= constraints; {c} is a cone constraint "
                               "(use method='conic')")
        if not (c.lhs.is_smooth() and c.rhs.is_smooth()):
            raise CompileError(f"the KKT lowering needs smooth constraint functions; {c} is not "
                               "(use method='conic')")
        block = Block(c, name, math.prod(c.dual_shape))
        (equalities if isinstance(c, Equality) else inequalities).append(block)
    return KKTSystem(structure, tuple(equalities), tuple(inequalities))


class KKT(Lowering):
    """The KKT residual map, solved by the QP (Mehrotra) or the NLP (line-search) interior point."""

    name = "kkt"
    solvers = ("interior_point", "pdlp")
    diffs = (Diff.IMPLICIT, Diff.SMOOTHED)

    def __init__(self, structure: Structure, options: Options):
        super().__init__(structure, options)
        if options.diff is Diff.SMOOTHED and not structure.is_qp:
            raise CompileError("diff='smoothed' is available for QPs (quadratic objective, affine constraints)")
        self.system = kkt_system(structure)
        self.mu = SMOOTHED_MU if options.diff is Diff.SMOOTHED else 0.0
        if options.solver == "pdlp" and (not structure.is_qp or options.diff is Diff.SMOOTHED):
            raise CompileError("solver='pdlp' runs LPs and QPs (quadratic objective, affine constraints), "
                               "differentiated with diff='implicit'")

    @property
    def solver(self) -> str:
        """``solver=``, else PDLP for an LP or QP of at least :data:`PDLP_MIN_SIZE` KKT unknowns (differentiated
        with ``diff='implicit'``), else the interior point."""
        if self.options.solver is None and self.structure.is_qp and self.options.diff is Diff.IMPLICIT:
            size = self.structure.packing.size + self.system.n_eq + self.system.n_ineq
            return "pdlp" if size >= PDLP_MIN_SIZE else "interior_point"
        return super().solver

    def diff_refusal(self, diff: Diff) -> str:
        return ("diff='unrolled' applies to the first-order methods; the interior point is differentiated "
                "implicitly ('implicit' or 'smoothed')")

    def optimality(self, point: KKTPoint, params: Params) -> KKTPoint:
        return self.system.residual(self.mu)(point, params)

    def default_tol(self, dtype: Any) -> float:
        return default_pdlp_tol(dtype) if self.solver == "pdlp" else super().default_tol(dtype)

    @property
    def maxiter(self) -> int:
        solver = qp_interior_point if self.structure.is_qp else nlp_interior_point
        solver = pdlp if self.solver == "pdlp" else solver
        return self.options.maxiter or signature_default(solver, "maxiter")

    def solve(self) -> Callable[[Any, Params], tuple[Any, KKTAux]]:
        system = self.system
        if self.solver == "pdlp":
            return pdlp_solve(system, degree(self.structure.objective) in (0, 1), self.solver_options())
        if self.structure.is_qp:
            options = {**self.solver_options(), "mu_target": self.mu or None}

            @custom_root(self.optimality, has_aux=True, factored_solve=kkt_factored_solve)
            def solve_qp(start, params):
                dtype = float_dtype(*(v.dtype for v in params.values())) if start is None else start.x.dtype
                return qp_interior_point(*system.qp_data(params, dtype), init=start, **options)

            return solve_qp
        m, p = system.n_ineq, system.n_eq
        options = {**self.solver_options(), "m": m, "p": p}

        @custom_root(self.optimality, has_aux=True, factored_solve=kkt_factored_solve)
        def solve_nlp(start, params):
            return nlp_interior_point(system.f, system.G if m else None, system.H if p else None, start, params,
                                      **options)

        return solve_nlp

    @property
    def solves_under_custom_root(self) -> bool:
        return self.solver != "pdlp"

    def start(self, params: Params, init: Solution | None, dtype: Any) -> KKTPoint | jax.Array | None:
        """``init``'s KKT point (a warm start), else its variable values (with zero multipliers for the QP
        solver; the NLP solver's cold start from there), else the QP solver's own start (None) or a point of
        the objective's domain (:meth:`_inside_domain`)."""
        x = jnp.zeros((self.structure.packing.size,), dtype)
        zeros = KKTPoint(x, jnp.zeros((self.system.n_eq,), dtype), jnp.zeros((self.system.n_ineq,), dtype))
        state = warm_state(init, zeros)
        if state is not None:
            return KKTPoint(*(v.astype(dtype) for v in state))
        if init is not None:
            x = jax.lax.stop_gradient(self.structure.packing.pack(init.values).astype(dtype))
        elif self.structure.is_qp:
            return None
        if self.structure.is_qp:
            return zeros._replace(x=x)
        return x if init is not None else self._inside_domain(params, dtype)

    def _inside_domain(self, params: Params, dtype: Any) -> jax.Array:
        """The NLP cold start: ``z = 0``, or where the objective or its first two derivatives are not finite there
        (``log``, ``entropy``, ``log_det``, fractional powers, ... of a variable), each variable at one (the
        identity for a square matrix)."""
        packing = self.structure.packing
        zero = jnp.zeros((packing.size,), dtype)
        unit = packing.pack({name: jnp.eye(shape[0], dtype=dtype) if len(shape) == 2 and shape[0] == shape[1]
                             else jnp.ones(shape, dtype) for name, shape in zip(packing.names, packing.shapes)})
        params = jax.lax.stop_gradient(params)
        curvature = jax.hessian(self.system.f)(zero, params)
        finite = jnp.isfinite(self.system.f(zero, params)) & jnp.all(jnp.isfinite(curvature))
        return jnp.where(finite, zero, unit.astype(dtype))

    def read(self, point: KKTPoint, params: Params, dtype: Any) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
        return self.structure.packing.unpack(point.x), self.system.duals(point)

    def singular(self, aux: KKTAux) -> jax.Array:
        if self.solver == "pdlp":
            return overdetermined(aux, self.structure.packing.size, self.system.n_eq)
        return aux.singular

    @property
    def map_text(self) -> str:
        complementarity = f"λ ∘ G + μ, μ = {SMOOTHED_MU}" if self.mu else "λ ∘ G"
        return f"F(z, ν, λ; θ) = (∇f + ∂Hᵀν + ∂Gᵀλ, H, {complementarity})  (KKT residual)"

    @property
    def solver_text(self) -> str:
        if self.solver == "pdlp":
            chosen = "" if self.options.solver else f" (chosen by size: at least {PDLP_MIN_SIZE} KKT unknowns)"
            return f"PDLP: restarted primal-dual hybrid gradient, matrix products only{chosen}"
        if self.structure.is_qp:
            return "dense primal-dual interior point (Mehrotra predictor-corrector)"
        return "line-search primal-dual interior point (exact Hessian, inertia correction)"

    @property
    def differentiation_text(self) -> str:
        if self.solver == "pdlp":
            return "implicit: the KKT conditions of the active set, solved by MINRES (matrix-free)"
        return f"{self.options.diff.value}: custom_root on F, reusing the interior point's KKT factorisation"

    def conditions_latex(self) -> str:
        from optdsl.modeling.latex import constraint_latex, expression_latex  # sympy, only where LaTeX is asked for

        problem = self.structure.problem
        eqs = [constraint_latex(c) for c in problem.constraints if isinstance(c, Equality)]
        ineqs = [constraint_latex(c) for c in problem.constraints if not isinstance(c, Equality)]
        complementarity = r"\lambda \circ G(z, \theta) = -\mu" if self.mu else r"\lambda \circ G(z, \theta) = 0"
        return aligned([
            r"&\nabla_z f(z, \theta) + \partial_z H(z, \theta)^\top \nu + \partial_z G(z, \theta)^\top \lambda = 0",
            r"&H(z, \theta) = 0, \quad " + complementarity + r", \quad \lambda \geq 0, \quad G(z, \theta) \leq 0",
            rf"&f = {expression_latex(self.structure.objective)}",
            r"&H = 0:\ " + (r",\ ".join(eqs) or r"\text{none}"),
            r"&G \leq 0:\ " + (r",\ ".join(ineqs) or r"\text{none}"),
            variables_latex(self.structure),
        ])
