"""The mirror route: variables on probability simplices, the KL mirror-descent fixed point, by exponentiated gradient.

``F(z, θ) = argmin_{y ∈ Δ} ⟨∇f(z, θ), y⟩ + KL(y, z)/η - z`` at η = 1; chosen only with
``method="mirror"`` (every variable on a simplex, no non-smooth terms).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from optdsl.compiler.lowerings.base import Params
from optdsl.compiler.lowerings.first_order import STEP, FirstOrder, aligned
from optdsl.runtime import solvers
from optdsl.runtime.solvers import SolverInfo


class Mirror(FirstOrder):
    """The KL mirror-descent fixed point over simplices."""

    name = "mirror"
    solvers = ("mirror_descent",)
    #: Exponentiated gradient drives weakly active entries to zero slowly: many cheap iterations.
    default_maxiter = 100_000
    map_text = ("F(z, θ) = argmin_{y ∈ Δ} <∇_z f(z, θ), y> + KL(y, z)/η - z  (KL mirror-descent fixed point, "
                f"η = {STEP:g})")
    solver_text = "mirror descent (exponentiated gradient, backtracking)"

    def _kl_step(self, z: jax.Array, g: jax.Array, eta: Any, params: Params) -> jax.Array:
        packing = self.structure.packing
        values, grads = packing.unpack(z), packing.unpack(g)
        out = {}
        for s in self.structure.sets:
            (name,) = s.variables
            out[name] = s.kl_step(values[name], grads[name], eta, params)
        return packing.pack(out).astype(z.dtype)

    def optimality(self, point: jax.Array, params: Params) -> jax.Array:
        return self._kl_step(point, jax.grad(self.structure.smooth_value)(point, params), STEP, params) - point

    @property
    def solver_function(self) -> Callable:
        return solvers.mirror_descent

    def iterate(self, z0: jax.Array, params: Params, unroll: bool) -> tuple[jax.Array, SolverInfo]:
        return self.solver_function(self.structure.smooth_value,
                                      lambda x, g, eta: self._kl_step(x, g, eta, params), z0, params,
                                      unroll=unroll, **self.solver_options())

    def cold_start(self, params: Params, dtype: Any) -> jax.Array:
        """The centre of each simplex (the projection of all-ones)."""
        packing = self.structure.packing
        values = {}
        for s in self.structure.sets:
            (name,) = s.variables
            ones = jnp.ones(packing.shapes[packing.names.index(name)], dtype)
            values[name] = s.project((ones,), params)[0]
        return packing.pack(values).astype(dtype)

    def conditions_latex(self) -> str:
        fixed = (r"&z = \operatorname{argmin}_{y \in C} \langle \nabla_z f(z, \theta), y \rangle"
                 r" + \tfrac{1}{\eta} \operatorname{KL}(y, z), \quad \eta = 1")
        return aligned([fixed, *self._pieces_latex(), self._variables_latex()])
