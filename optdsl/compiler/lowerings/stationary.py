"""The stationary route: a smooth, unconstrained model, ``F(z, θ) = ∇_z f(z, θ)``, by Newton or L-BFGS.

An affine objective ``c'z + d`` needs no solver: ``c = 0`` and every ``z`` is a minimiser
(the start is returned), or the objective is unbounded.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from optdsl.compiler.lowerings.base import Options, Params
from optdsl.compiler.lowerings.first_order import FirstOrder, aligned
from optdsl.compiler.analyze import Structure
from optdsl.runtime import solvers
from optdsl.runtime.solvers import SolverInfo
from optdsl.runtime.solvers.base import resolve_tol
from optdsl.runtime.status import SOLVED, UNBOUNDED

#: Newton's dense Hessian is the default for unconstrained problems up to this many unknowns.
NEWTON_MAX = 200


class Stationary(FirstOrder):
    """``∇f = 0`` for a smooth unconstrained objective; ``∂F/∂z`` is the (symmetric) Hessian."""

    name = "stationary"
    solvers = ("newton", "lbfgs", "newton_cg")
    symmetric = True
    map_text = "F(z, θ) = ∇_z f(z, θ)  (stationarity of the smooth objective)"

    def __init__(self, structure: Structure, options: Options):
        super().__init__(structure, options)
        self._run = {"newton": solvers.newton, "lbfgs": solvers.lbfgs, "newton_cg": solvers.newton_cg}[self.solver]

    @property
    def solver(self) -> str:
        if self.options.solver is None and self.structure.packing.size > NEWTON_MAX:
            return "lbfgs"
        return super().solver

    @property
    def solver_function(self) -> Callable:
        return self._run

    @property
    def positive_definite(self) -> bool:
        return self.structure.problem.is_dcp()  # a convex objective's Hessian

    def optimality(self, point: jax.Array, params: Params) -> jax.Array:
        return jax.grad(self.structure.smooth_value)(point, params)

    def iterate(self, z0: jax.Array, params: Params, unroll: bool) -> tuple[jax.Array, SolverInfo]:
        smooth = self.structure.smooth
        if smooth is None or smooth.is_affine():
            return z0, self._affine_status(z0, params)
        return self.solver_function(self.structure.smooth_value, z0, params, unroll=unroll, **self.solver_options())

    def _affine_status(self, z: jax.Array, params: Params) -> SolverInfo:
        """SOLVED at any ``z`` when the affine objective's gradient ``c`` is zero (to ``tol``), else UNBOUNDED."""
        norm = jnp.linalg.norm(self.optimality(z, params))
        status = jnp.where(norm <= resolve_tol(self.options.tol, z.dtype), SOLVED, UNBOUNDED).astype(jnp.int32)
        return SolverInfo(jnp.zeros((), jnp.int32), norm, status)

    @property
    def solver_text(self) -> str:
        return f"{self.solver} on f"

    def conditions_latex(self) -> str:
        return aligned([rf"&\nabla_z f(z, \theta) = 0, \quad {self._smooth_latex()[1:]}", self._variables_latex()])
