"""The first-order lowerings: stationarity, projected/proximal-gradient and mirror-descent maps.

Each lowering turns a :class:`~optdsl.compiler.analyze.Structure` into a
:class:`Lowering`: the optimality map ``F(z, params)`` (zero exactly at
solutions), a solver ``(init, params) -> (z, info)``, and a feasible starting
point. With ``x = z`` packed variables and ``θ = params``:

* stationary:          ``F = ∇f(z, θ)``
* projected/proximal:  ``F = prox_{ηg}(z - η∇f(z, θ), θ) - z``   (η = 1)
* mirror (simplices):  ``F = argmin_{y ∈ Δ} ⟨∇f(z, θ), y⟩ + KL(y, z)/η - z``   (η = 1)

The fixed point holds for every η > 0 at a solution, so the map uses η = 1
whatever steps the solver took.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp

from optdsl.compiler.analyze import Structure
from optdsl.runtime import solvers
from optdsl.runtime.compiled import Solution
from optdsl.runtime.implicit_diff import custom_root

Params = dict[str, jax.Array]
STEP = 1.0


@dataclass(frozen=True)
class Lowering:
    """A method's optimality map, solver and starting point, with their descriptions."""

    method: str
    optimality: Callable[[jax.Array, Params], jax.Array]
    solve: Callable[..., tuple[jax.Array, solvers.SolverInfo]]  # (init, params, *, unroll) -> (z, info)
    init: Callable[[Params, Any], jax.Array]
    symmetric: bool  # structure of ∂₁F, passed to the implicit-diff linear solve
    positive_definite: bool
    map_text: str
    solver_text: str


def smooth_value(structure: Structure) -> Callable[[jax.Array, Params], jax.Array]:
    """``f(z, θ)``: the smooth part of the minimised objective."""
    packing, smooth = structure.packing, structure.smooth

    def f(z, params):
        if smooth is None:
            return jnp.zeros((), z.dtype)
        return smooth.evaluate({**params, **packing.unpack(z)}, dtype=z.dtype)

    return f


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


def _dtype_zeros(structure: Structure, dtype: Any) -> jax.Array:
    return jnp.zeros((structure.packing.size,), dtype)


def stationary(structure: Structure, solver: str, tol: float | None, maxiter: int | None,
               convex: bool) -> Lowering:
    f = smooth_value(structure)
    grad = jax.grad(f)
    run = {"newton": solvers.newton, "lbfgs": solvers.lbfgs, "newton_cg": solvers.newton_cg}[solver]
    options = {"tol": tol} | ({} if maxiter is None else {"maxiter": maxiter})

    def solve(init, params, unroll=False):
        return run(f, init, params, unroll=unroll, **options)

    return Lowering("stationary", grad, solve, lambda params, dtype: _dtype_zeros(structure, dtype), True, convex,
                    "F(z, θ) = ∇_z f(z, θ)  (stationarity of the smooth objective)",
                    f"{solver} on f")


def proximal(structure: Structure, solver: str, tol: float | None, maxiter: int | None) -> Lowering:
    f = smooth_value(structure)
    grad = jax.grad(f)
    prox = prox_map(structure)
    options = {"tol": tol, "maxiter": maxiter or 20000, "acceleration": solver == "fista"}

    def optimality(z, params):
        return prox(z - STEP * grad(z, params), params, STEP) - z

    def solve(init, params, unroll=False):
        return solvers.proximal_gradient(f, prox, init, params, unroll=unroll, **options)

    method = "proximal_gradient" if structure.prox_terms else "projected_gradient"
    what = "prox_{ηg}" if structure.prox_terms else "proj_C"
    return Lowering(method, optimality, solve, lambda params, dtype: prox(_dtype_zeros(structure, dtype), params, STEP),
                    False, False, f"F(z, θ) = {what}(z - η ∇_z f(z, θ)) - z  (fixed point, η = {STEP})",
                    f"{'FISTA (accelerated' if solver == 'fista' else 'ISTA (plain'} proximal gradient, "
                    "backtracking, restarts)")


def mirror(structure: Structure, solver: str, tol: float | None, maxiter: int | None) -> Lowering:
    f = smooth_value(structure)
    grad = jax.grad(f)
    packing = structure.packing
    # Exponentiated gradient drives weakly active entries to zero slowly: allow many cheap iterations.
    options = {"tol": tol, "maxiter": maxiter or 100_000}

    def kl_step(z, g, eta, params):
        values, grads = packing.unpack(z), packing.unpack(g)
        out = {}
        for s in structure.sets:
            (name,) = s.variables
            out[name] = s.kl_step(values[name], grads[name], eta, params)
        return packing.pack(out).astype(z.dtype)

    def optimality(z, params):
        return kl_step(z, grad(z, params), STEP, params) - z

    def solve(init, params, unroll=False):
        return solvers.mirror_descent(f, lambda x, g, eta: kl_step(x, g, eta, params), init, params,
                                      unroll=unroll, **options)

    def init(params, dtype):
        values = {}
        for s in structure.sets:
            (name,) = s.variables
            ones = jnp.ones(packing.shapes[packing.names.index(name)], dtype)
            values[name] = s.project((ones,), params)[0]
        return packing.pack(values).astype(dtype)

    return Lowering("mirror", optimality, solve, init, False, False,
                    "F(z, θ) = argmin_{y ∈ Δ} <∇_z f(z, θ), y> + KL(y, z)/η - z  (KL mirror-descent fixed point, "
                    f"η = {STEP})", "mirror descent (exponentiated gradient, backtracking)")


def make_run(structure: Structure, lowering: Lowering, *, diff: str,
             linear_solve: str) -> Callable[[Params, Any, Any], Solution]:
    """``run(params, init, dtype) -> Solution``: solve, then unpack; implicit or unrolled derivatives."""
    packing = structure.packing
    objective = structure.problem.objective.expr
    if diff == "implicit":
        solve = custom_root(lowering.optimality, solve=linear_solve, has_aux=True, symmetric=lowering.symmetric,
                            positive_definite=lowering.positive_definite)(lowering.solve)
    else:
        def solve(init, params):
            return lowering.solve(init, params, unroll=True)

    def run(params: Params, init: Solution | None, dtype: Any) -> Solution:
        if init is None:
            z0 = lowering.init(params, dtype)
        else:
            z0 = jax.lax.stop_gradient(packing.pack(init.values).astype(dtype))
        z, info = solve(z0, params)
        values = packing.unpack(z)
        residual = jnp.linalg.norm(lowering.optimality(jax.lax.stop_gradient(z), jax.lax.stop_gradient(params)))
        value = objective.evaluate({**params, **values}, dtype=dtype)
        return Solution(values, value, info.status, residual, info.iterations, singular=jnp.asarray(False))

    return run


def differentiation_text(lowering: Lowering, diff: str, linear_solve: str) -> str:
    """How the solution is differentiated, for ``explain``."""
    if diff != "implicit":
        return "unrolled through the solver's iterations (for comparisons; slower, less accurate)"
    tags = ""
    if lowering.symmetric:
        tags = " (symmetric, positive definite)" if lowering.positive_definite else " (symmetric)"
    return f"implicit: custom_root on F, linear solve {linear_solve!r}{tags}"
