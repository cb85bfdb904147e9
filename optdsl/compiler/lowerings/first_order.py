"""What the first-order routes share: a map over the packed variables ``z``, a solver on ``z``, implicit or unrolled.

With ``z`` the packed variables and ``θ`` the parameters, each first-order
lowering states its map ``F(z, θ)`` (stationarity, or a fixed point ``T(z) - z``
at the unit step: the fixed point holds for every step size at a solution, so the
map uses η = 1 whatever steps the solver took) and its solver ``(z0, θ) -> (z,
SolverInfo)``. ``diff="implicit"`` attaches ``custom_root`` on ``F`` with the
chosen linear solve; ``diff="unrolled"`` runs the solver as fixed-length loops
that ``jax.grad`` goes through.

With ``linear_solve="auto"`` (up to ``DENSE_MAX`` unknowns) or ``"lu"``, ``∂F/∂z`` is
formed and LU-factorised once per solve, next to the solution, and every tangent
reuses the factors. Where it is singular (a Hessian with a flat direction, a
solution that is not unique) the derivatives are the least-squares ones of least
norm, finite where a plain solve gives NaN, and ``Solution.singular`` is set. It is
set too where the prox or projection of the map sits at a kink (an entry exactly at
its soft threshold, a bound active with a zero multiplier): the derivative is not
unique there, and the one given takes one element of the jump.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Callable, ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from optdsl.compiler.analyze import Structure
from optdsl.compiler.lowerings.base import Diff, Lowering, Params, signature_default
from optdsl.runtime import factored
from optdsl.runtime.compiled import Solution
from optdsl.runtime.factored import Factors
from optdsl.runtime.implicit_diff import custom_root
from optdsl.runtime.linear_solve import DENSE_MAX
from optdsl.runtime.solvers import SolverInfo
from optdsl.runtime.solvers.base import resolve_tol

#: The step size η of the fixed-point maps.
STEP = 1.0


class FirstOrderInfo(NamedTuple):
    """The solver's report (as :class:`SolverInfo`), ``singular``, and the factors of ``∂F/∂z`` (or None)."""

    iterations: jax.Array
    residual: jax.Array
    status: jax.Array
    singular: jax.Array
    factors: Factors | None


class FirstOrder(Lowering):
    """A first-order route: its map and solver act on the packed variables ``z``."""

    diffs = (Diff.IMPLICIT, Diff.UNROLLED)
    #: Structure of ``∂F/∂z``, passed to the implicit-diff linear solve.
    symmetric: ClassVar[bool] = False
    #: The solver's iteration cap when the user gives none (None: the solver's own default).
    default_maxiter: ClassVar[int | None] = None

    @property
    def positive_definite(self) -> bool:
        """Whether ``∂F/∂z`` is positive definite (lets the linear solve use CG)."""
        return False

    def jacobian_spd(self) -> bool:
        return self.symmetric and self.positive_definite

    def diff_refusal(self, diff: Diff) -> str:
        return "diff='smoothed' applies to the KKT lowering (method='kkt')"

    @abstractmethod
    def iterate(self, z0: jax.Array, params: Params, unroll: bool) -> tuple[jax.Array, SolverInfo]:
        """Run the forward solver from ``z0``."""

    def cold_start(self, params: Params, dtype: Any) -> jax.Array:
        """The starting point without ``init``: zeros."""
        return jnp.zeros((self.structure.packing.size,), dtype)

    def kink(self, point: jax.Array, params: Params, radius: jax.Array) -> jax.Array:
        """Whether the map's prox or projection has a kink within ``radius`` of where it is applied (default: none)."""
        return jnp.asarray(False)

    @property
    def dense(self) -> bool:
        """Whether ``∂F/∂z`` is factorised once per solve (dense LU) for the implicit derivatives."""
        size = self.structure.packing.size
        return self.options.linear_solve == "lu" or (self.options.linear_solve == "auto" and size <= DENSE_MAX)

    def solve(self) -> Callable[[jax.Array, Params], tuple[jax.Array, FirstOrderInfo]]:
        if self.options.diff is Diff.UNROLLED:
            def unrolled(z0: jax.Array, params: Params) -> tuple[jax.Array, FirstOrderInfo]:
                point, info = self.iterate(z0, params, True)
                return point, FirstOrderInfo(*info, singular=jnp.asarray(False), factors=None)
            return unrolled

        dense = self.dense

        def solver(z0: jax.Array, params: Params) -> tuple[jax.Array, FirstOrderInfo]:
            point, info = self.iterate(z0, params, False)
            radius = resolve_tol(self.options.tol, point.dtype) ** 0.75
            singular = self.kink(point, params, radius)
            factors = None
            if dense:
                factors = factored.factor(jax.jacfwd(self.optimality)(point, params))
                singular = singular | factors.singular
            return point, FirstOrderInfo(*info, singular=singular, factors=factors)

        if dense:
            return custom_root(self.optimality, has_aux=True, factored_solve=lambda aux, rhs, transpose: factored.solve(
                aux.factors, rhs, transpose))(solver)
        return custom_root(self.optimality, solve=self.options.linear_solve, has_aux=True, symmetric=self.symmetric,
                           positive_definite=self.positive_definite)(solver)

    @property
    def solves_under_custom_root(self) -> bool:
        return self.options.diff is not Diff.UNROLLED

    def singular(self, aux: FirstOrderInfo) -> jax.Array:
        """``∂F/∂z`` is singular at the solution (least-squares derivatives), or its prox has a kink there."""
        return aux.singular

    def start(self, params: Params, init: Solution | None, dtype: Any) -> jax.Array:
        if init is None:
            return self.cold_start(params, dtype)
        return jax.lax.stop_gradient(self.structure.packing.pack(init.values).astype(dtype))

    def read(self, point: jax.Array, params: Params, dtype: Any) -> tuple[dict[str, jax.Array], dict]:
        """The variables, and each set constraint's dual from the smooth part's gradient at the point."""
        packing, problem = self.structure.packing, self.structure.problem
        values = packing.unpack(point)
        absorbing = [t for t in self.structure.prox_terms if t.absorbed is not None]
        if not (self.structure.sets or absorbing):
            return values, {}
        grads = packing.unpack(jax.grad(self.structure.smooth_value)(point, params))
        found = {}
        for s in self.structure.sets:
            found.update(s.duals(tuple(values[n] for n in s.variables), tuple(grads[n] for n in s.variables), params))
        for t in absorbing:
            found.update(t.duals(values[t.variable], grads[t.variable], params))
        return values, {name: found[id(c)] for name, c in problem.named_constraints().items() if id(c) in found}

    def infeasible(self, params: Params, dtype: Any) -> jax.Array:
        """Whether some set is empty for these parameter values (its exact projection of zero violates it)."""
        zero = self.structure.packing.unpack(jnp.zeros((self.structure.packing.size,), dtype))
        tol = self.feasibility_tol(dtype)
        found = [s.empty(tuple(zero[n] for n in s.variables), params, tol) for s in self.structure.sets]
        return jnp.any(jnp.stack(found)) if found else jnp.asarray(False)

    @property
    def maxiter(self) -> int:
        return self.options.maxiter or self.default_maxiter or signature_default(self.solver_function, "maxiter")

    @property
    @abstractmethod
    def solver_function(self) -> Callable:
        """The runtime solver :meth:`iterate` runs (its ``maxiter`` default holds where the route sets none)."""

    @property
    def differentiation_text(self) -> str:
        if self.options.diff is Diff.UNROLLED:
            return "unrolled through the solver's iterations (for comparisons; slower, less accurate)"
        if self.dense:
            return "implicit: custom_root on F, ∂F/∂z LU-factorised once per solve (least squares where singular)"
        tags = ""
        if self.symmetric:
            tags = " (symmetric, positive definite)" if self.positive_definite else " (symmetric)"
        return f"implicit: custom_root on F, linear solve {self.options.linear_solve!r}{tags}"

    # ---- LaTeX pieces ------------------------------------------------------------------------
    def _variables_latex(self) -> str:
        return variables_latex(self.structure)

    def _smooth_latex(self) -> str:
        from optdsl.modeling.latex import expression_latex  # sympy, imported only where LaTeX is asked for

        smooth = self.structure.smooth
        return rf"&f = {expression_latex(smooth) if smooth is not None else '0'}"

    def _pieces_latex(self) -> list[str]:
        """``f``, the non-smooth terms ``g`` and the set ``C``, one line each (those present)."""
        from optdsl.modeling.latex import constraint_latex, expression_latex

        structure = self.structure
        lines = [self._smooth_latex()]
        if structure.prox_terms:
            lines.append("&g = " + " + ".join(expression_latex(t.term) for t in structure.prox_terms))
        sets = [constraint_latex(c) for s in structure.sets for c in s.constraints]
        if sets:
            lines.append(r"&C = \{z : " + r",\ ".join(sets) + r"\}")
        return lines


def variables_latex(structure: Structure) -> str:
    """The line ``z = (x, y, ...)`` naming the packed variables."""
    names = ", ".join(structure.packing.names) or r"\varnothing"
    return rf"&z = ({names})"


def aligned(lines: list[str]) -> str:
    """LaTeX lines in an ``aligned`` environment."""
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"
