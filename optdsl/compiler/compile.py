"""``compile_problem``: a Problem in, a differentiable ``CompiledProblem`` out.

Method selection follows the lowering table of DESIGN.md; the chosen lowering's
optimality map is attached to its solver with ``custom_root`` (implicit
differentiation), or the solver is differentiated through its iterations when
``diff="unrolled"`` (for comparisons only).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from optdsl.compiler import first_order
from optdsl.compiler.analyze import Structure, analyze
from optdsl.compiler.errors import CompileError
from optdsl.compiler.explain import describe
from optdsl.modeling import Problem
from optdsl.runtime.compiled import CompiledProblem, ParameterSpec, Solution
from optdsl.runtime.implicit_diff import custom_root
from optdsl.runtime.linear_solve import SOLVERS as LINEAR_SOLVERS

METHODS = ("stationary", "projected_gradient", "proximal_gradient", "mirror")
SOLVERS = {
    "stationary": ("newton", "lbfgs", "newton_cg"),
    "projected_gradient": ("fista", "ista"),
    "proximal_gradient": ("fista", "ista"),
    "mirror": ("mirror_descent",),
}
DIFF_MODES = ("implicit", "unrolled")
#: Newton's dense Hessian is the default for unconstrained problems up to this many unknowns.
NEWTON_MAX = 200


def _default_method(structure: Structure) -> str:
    if structure.prox_terms:
        return "proximal_gradient"
    return "projected_gradient" if structure.sets else "stationary"


def _leftover_message(structure: Structure) -> str:
    parts = [f"  term {t}" for t in structure.leftover_terms]
    parts += [f"  constraint {c}" for c in structure.leftover_constraints]
    return "\n".join(parts)


def choose_method(structure: Structure, method: str | None) -> str:
    """The method to lower with: the requested one if it applies, else the default of the lowering table."""
    if method is not None and method not in METHODS:
        raise CompileError(f"unknown method {method!r}; choose one of {list(METHODS)}")
    if not structure.first_order:
        raise CompileError(
            "this problem has parts that no projection or proximal operator covers:\n"
            f"{_leftover_message(structure)}\n"
            "they need the KKT or conic lowering (general constraints, or a non-smooth term on a constrained "
            "variable), which this version of the compiler does not build")
    default = _default_method(structure)
    if method is None or method == default:
        return default
    if method == "proximal_gradient" and default == "projected_gradient":
        return "projected_gradient"  # a projection is the prox of an indicator
    if method == "mirror":
        bad = [s for s in structure.sets if s.kl_step is None]
        covered = {n for s in structure.sets for n in s.variables}
        free = [v.name for v in structure.variables if v.name not in covered]
        if structure.prox_terms or bad or free:
            raise CompileError(
                "method='mirror' needs every variable on a probability simplex (x >= 0 with sum(x) == r, or "
                "row-/column-wise sum(X, axis=a) == r) and no non-smooth terms; "
                + ", ".join(filter(None, [
                    f"free variables {free}" if free else "",
                    f"other sets {[s.kind for s in bad]}" if bad else "",
                    f"non-smooth terms {[str(t.term) for t in structure.prox_terms]}" if structure.prox_terms else "",
                ])))
        return "mirror"
    raise CompileError(f"method={method!r} does not apply: the model's structure calls for {default!r} "
                       f"({'it has non-smooth terms' if structure.prox_terms else 'it has constraints' if structure.sets else 'it is unconstrained and smooth'})")


def _lowering(structure: Structure, method: str, solver: str | None, tol: float | None,
              maxiter: int | None) -> first_order.Lowering:
    allowed = SOLVERS[method]
    if solver is None:
        solver = allowed[0]
        if method == "stationary" and structure.packing.size > NEWTON_MAX:
            solver = "lbfgs"
    elif solver not in allowed:
        raise CompileError(f"solver {solver!r} does not run method {method!r}; choose one of {list(allowed)}")
    if method == "stationary":
        return first_order.stationary(structure, solver, tol, maxiter, convex=structure.problem.is_dcp())
    if method == "mirror":
        return first_order.mirror(structure, solver, tol, maxiter)
    return first_order.proximal(structure, solver, tol, maxiter)


def _dtype(params: dict[str, jax.Array]) -> Any:
    dtype = jnp.result_type(*params.values()) if params else jnp.result_type(float)
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.result_type(float)


def compile_problem(problem: Problem, *, method: str | None = None, solver: str | None = None,
                    linear_solve: str = "auto", tol: float | None = None, maxiter: int | None = None,
                    diff: str = "implicit", nonconvex: bool = False) -> CompiledProblem:
    """Lower ``problem`` to a traceable, differentiable ``params -> Solution`` function.

    ``method``: an optimality map from the lowering table (default: chosen from
    the structure); ``solver``: the forward solver for it; ``linear_solve``: the
    implicit-differentiation solve (a name from :mod:`optdsl.runtime.linear_solve`);
    ``tol`` / ``maxiter``: the solver's stopping rule (dtype-aware default);
    ``diff``: ``"implicit"`` (default) or ``"unrolled"``; ``nonconvex=True``
    skips the DCP check (the solution is then a local one).
    """
    if not isinstance(problem, Problem):
        raise CompileError(f"compile expects a Problem, got {type(problem).__name__}")
    if diff not in DIFF_MODES:
        raise CompileError(f"unknown diff mode {diff!r}; choose one of {list(DIFF_MODES)}")
    if linear_solve not in LINEAR_SOLVERS:
        raise CompileError(f"unknown linear_solve {linear_solve!r}; choose one of {sorted(LINEAR_SOLVERS)}")
    if not nonconvex:
        problem.check_dcp()
    structure = analyze(problem)
    chosen = choose_method(structure, method)
    lowering = _lowering(structure, chosen, solver, tol, maxiter)
    packing = structure.packing
    objective = problem.objective.expr

    if diff == "implicit":
        solve = custom_root(lowering.optimality, solve=linear_solve, has_aux=True,
                            symmetric=lowering.symmetric,
                            positive_definite=lowering.positive_definite)(lowering.solve)
    else:
        def solve(init, params):
            return lowering.solve(init, params, unroll=True)

    def run(params: dict[str, jax.Array], init: Solution | None) -> Solution:
        dtype = _dtype(params)
        if init is None:
            z0 = lowering.init(params, dtype)
        else:
            z0 = jax.lax.stop_gradient(packing.pack(init.values).astype(dtype))
        z, info = solve(z0, params)
        values = packing.unpack(z)
        residual = jnp.linalg.norm(lowering.optimality(jax.lax.stop_gradient(z), jax.lax.stop_gradient(params)))
        value = objective.evaluate({**params, **values}, dtype=dtype)
        return Solution(values, value, info.status, residual, info.iterations)

    return CompiledProblem(
        fn=jax.jit(run),
        parameters=tuple(ParameterSpec(p.name, p.shape) for p in structure.parameters),
        method=lowering.method,
        description=describe(structure, lowering, diff=diff, linear_solve=linear_solve, tol=tol, maxiter=maxiter),
        problem=problem,
        options={"method": method, "solver": solver, "linear_solve": linear_solve, "tol": tol,
                 "maxiter": maxiter, "diff": diff, "nonconvex": nonconvex},
    )
