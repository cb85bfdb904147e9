"""The proximal- and projected-gradient routes: ``F(z, θ) = prox_{ηg + ι_C}(z - η∇f(z, θ)) - z``, by FISTA.

The non-smooth terms with a known prox (:mod:`optdsl.compiler.terms`) and the sets
with a known projection (:mod:`optdsl.compiler.sets`) act variable by variable; a
model with sets and no non-smooth terms is the projected-gradient route (a
projection is the prox of the set's indicator).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from optdsl.compiler.analyze import Structure
from optdsl.compiler.degree import degree
from optdsl.compiler.lowerings.base import Options, Params
from optdsl.compiler.lowerings.first_order import STEP, FirstOrder, aligned
from optdsl.runtime import solvers
from optdsl.runtime.kinks import kinked
from optdsl.runtime.solvers import SolverInfo


def prox_map(structure: Structure) -> Callable[[jax.Array, Params, Any], jax.Array]:
    """``prox_{step g}(z)`` of the non-smooth terms and set indicators, variable by variable."""
    packing = structure.packing
    terms = {t.variable: t for t in structure.prox_terms}

    def prox(z, params, step):
        values = packing.unpack(z)
        out = dict(values)
        for name, term in terms.items():
            out[name] = term.apply(values[name], params, step)
        for s in structure.sets:
            projected = s.project(tuple(values[n] for n in s.variables), params)
            out.update(zip(s.variables, projected))
        return packing.pack(out).astype(z.dtype)

    return prox


class ProximalGradient(FirstOrder):
    """The proximal-gradient fixed point of a smooth part plus proxable terms (and sets)."""

    name = "proximal_gradient"
    solvers = ("fista", "ista")
    default_maxiter = 20000

    def __init__(self, structure: Structure, options: Options):
        super().__init__(structure, options)
        self._prox = prox_map(structure)

    def optimality(self, point: jax.Array, params: Params) -> jax.Array:
        gradient = jax.grad(self.structure.smooth_value)(point, params)
        return self._prox(point - STEP * gradient, params, STEP) - point

    def kink(self, point: jax.Array, params: Params, radius: jax.Array) -> jax.Array:
        """The prox has a kink within ``radius (1 + max|u|)`` of its argument ``u = z - η∇f(z)`` at the solution."""
        u = point - STEP * jax.grad(self.structure.smooth_value)(point, params)
        return kinked(lambda u: self._prox(u, params, STEP), u, radius * (1 + jnp.max(jnp.abs(u), initial=0)))

    @property
    def solver_function(self) -> Callable:
        return solvers.proximal_gradient

    def iterate(self, z0: jax.Array, params: Params, unroll: bool) -> tuple[jax.Array, SolverInfo]:
        return self.solver_function(self.structure.smooth_value, self._prox, z0, params, unroll=unroll,
                                    acceleration=self.solver == "fista", quadratic=self.quadratic,
                                    **self.solver_options())

    @property
    def quadratic(self) -> bool:
        """Whether the smooth part is a polynomial of degree <= 2 in the variables (FISTA then extrapolates its
        value and gradient rather than evaluating them)."""
        smooth = self.structure.smooth
        return smooth is None or degree(smooth) is not None

    def cold_start(self, params: Params, dtype: Any) -> jax.Array:
        """The prox of zero: a feasible point of the sets."""
        return self._prox(super().cold_start(params, dtype), params, STEP)

    @property
    def _operator(self) -> str:
        return "prox_{ηg}"

    @property
    def map_text(self) -> str:
        return f"F(z, θ) = {self._operator}(z - η ∇_z f(z, θ)) - z  (fixed point, η = {STEP:g})"

    @property
    def solver_text(self) -> str:
        kind = "FISTA (accelerated" if self.solver == "fista" else "ISTA (plain"
        return f"{kind} proximal gradient, backtracking, restarts)"

    def _operator_latex(self) -> str:
        return r"\operatorname{prox}_{\eta g + \iota_C}" if self.structure.sets else r"\operatorname{prox}_{\eta g}"

    def conditions_latex(self) -> str:
        fixed = rf"&z = {self._operator_latex()}\left(z - \eta \nabla_z f(z, \theta)\right), \quad \eta = 1"
        return aligned([fixed, *self._pieces_latex(), self._variables_latex()])


class ProjectedGradient(ProximalGradient):
    """The projected-gradient fixed point of a smooth objective over sets with known projections."""

    name = "projected_gradient"

    @property
    def _operator(self) -> str:
        return "proj_C"

    def _operator_latex(self) -> str:
        return r"\Pi_C"
