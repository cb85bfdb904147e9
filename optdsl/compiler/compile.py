"""``compile_problem``: a Problem in, a differentiable ``CompiledProblem`` out.

Method selection follows the lowering table of DESIGN.md; the chosen lowering's
optimality map is attached to its solver with ``custom_root`` (implicit
differentiation), or the solver is differentiated through its iterations when
``diff="unrolled"`` (for comparisons only).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from optdsl.compiler import first_order, kkt
from optdsl.compiler.conic import canonicalize
from optdsl.compiler.conic import lowering as conic_lowering
from optdsl.compiler.analyze import Structure, analyze
from optdsl.compiler.conditions import conditions_latex
from optdsl.compiler.degree import degree
from optdsl.errors import CompileError
from optdsl.compiler.explain import describe
from optdsl.modeling import Problem
from optdsl.runtime.compiled import CompiledProblem, ParameterSpec, Solution
from optdsl.runtime.linear_solve import SOLVERS as LINEAR_SOLVERS

METHODS = ("stationary", "projected_gradient", "proximal_gradient", "mirror", "kkt", "conic")
SOLVERS = {
    "stationary": ("newton", "lbfgs", "newton_cg"),
    "projected_gradient": ("fista", "ista"),
    "proximal_gradient": ("fista", "ista"),
    "mirror": ("mirror_descent",),
}
DIFF_MODES = ("implicit", "smoothed", "unrolled")
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


def _kkt_ready(structure: Structure) -> bool:
    """A QP: quadratic objective, affine ``==`` / ``<=`` constraints (the interior point's domain)."""
    from optdsl.modeling import Equality, Inequality

    problem = structure.problem
    return degree(problem.objective.expr) is not None and all(
        isinstance(c, (Equality, Inequality)) and degree(c.lhs) in (0, 1) and degree(c.rhs) in (0, 1)
        for c in problem.constraints)


def _smooth_kkt(structure: Structure) -> bool:
    """A smooth objective and smooth ``==`` / ``<=`` constraints: the NLP interior point applies."""
    from optdsl.modeling import Equality, Inequality

    problem = structure.problem
    return problem.objective.expr.is_smooth() and all(
        isinstance(c, (Equality, Inequality)) and c.lhs.is_smooth() and c.rhs.is_smooth()
        for c in problem.constraints)


def choose_method(structure: Structure, method: str | None, nonconvex: bool = False) -> str:
    """The method to lower with: the requested one if it applies, else the default of the lowering table."""
    if method is not None and method not in METHODS:
        raise CompileError(f"unknown method {method!r}; choose one of {list(METHODS)}")
    if method in ("kkt", "conic"):
        return method
    if nonconvex and method is None and not structure.first_order and _smooth_kkt(structure):
        return "kkt"  # a non-convex smooth model: the NLP interior point finds a local solution
    linear_program = degree(structure.problem.objective.expr) in (0, 1) and bool(structure.sets)
    if not structure.first_order or linear_program:  # an LP needs an interior point, not a projection
        if method is None:
            return "kkt" if _kkt_ready(structure) else "conic"
        raise CompileError(
            f"method={method!r} does not apply: these parts have no projection or proximal operator:\n"
            f"{_leftover_message(structure)}\n"
            f"use method={'kkt' if _kkt_ready(structure) else 'conic'!r} (the default for this model)")
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
    why = ("it has non-smooth terms" if structure.prox_terms else "it has constraints" if structure.sets
           else "it is unconstrained and smooth")
    raise CompileError(f"method={method!r} does not apply: the model's structure calls for {default!r} ({why})")


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
    dtype = jnp.result_type(*(v.dtype for v in params.values())) if params else jnp.result_type(float)
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.result_type(float)


Run = Callable[[dict[str, jax.Array], Any, Any], Solution]


def _build_kkt(structure: Structure, method: str, *, solver, linear_solve, tol, maxiter,
               diff) -> tuple[Run, dict[str, str]]:
    if diff == "unrolled":
        raise CompileError("diff='unrolled' applies to the first-order methods; the interior point is "
                           "differentiated implicitly ('implicit' or 'smoothed')")
    if solver not in (None, "interior_point"):
        raise CompileError(f"solver {solver!r} does not run method 'kkt'; choose 'interior_point'")
    run = kkt.make_run(kkt.kkt_system(structure), diff=diff, tol=tol, maxiter=maxiter)
    mu = f"λ ∘ G + μ, μ = {kkt.SMOOTHED_MU}" if diff == "smoothed" else "λ ∘ G"
    return run, dict(method="kkt", map_text=f"F(z, ν, λ; θ) = (∇f + ∂Hᵀν + ∂Gᵀλ, H, {mu})  (KKT residual)",
                     solver_text="dense primal-dual interior point (Mehrotra predictor-corrector)",
                     differentiation=f"{diff}: custom_root on F, reusing the interior point's KKT factorisation")


def _build_conic(structure: Structure, method: str, *, solver, linear_solve, tol, maxiter,
                 diff) -> tuple[Run, dict[str, str]]:
    if diff != "implicit":
        raise CompileError(f"diff={diff!r} does not apply to the conic lowering (it is differentiated "
                           "implicitly through the homogeneous self-dual embedding)")
    if solver not in (None, "hsde_admm"):
        raise CompileError(f"solver {solver!r} does not run method 'conic'; choose 'hsde_admm'")
    form = canonicalize(structure.problem)
    run = conic_lowering.make_run(form, linear_solve=linear_solve, tol=tol, maxiter=maxiter)
    return run, dict(method="conic", map_text="N(u, v, w) = ((Q - I) Π(u, v, w) + (u, v, w)) / |w|  "
                     f"(HSDE residual map of min c'x s.t. Ax + s = b, s ∈ K; {form.summary()})",
                     solver_text="ADMM on the homogeneous self-dual embedding (equilibration, Anderson "
                     "acceleration, Newton polish)",
                     differentiation=f"implicit: custom_root on N, linear solve {linear_solve!r}, then "
                     "autodiff of the canonical data (A, b, c) in the parameters")


def _build_first_order(structure: Structure, method: str, *, solver, linear_solve, tol, maxiter,
                       diff) -> tuple[Run, dict[str, str]]:
    if diff == "smoothed":
        raise CompileError("diff='smoothed' applies to the KKT lowering (method='kkt')")
    lowering = _lowering(structure, method, solver, tol, maxiter)
    run = first_order.make_run(structure, lowering, diff=diff, linear_solve=linear_solve)
    return run, dict(method=lowering.method, map_text=lowering.map_text, solver_text=lowering.solver_text,
                     differentiation=first_order.differentiation_text(lowering, diff, linear_solve))


def compile_problem(problem: Problem, *, method: str | None = None, solver: str | None = None,
                    linear_solve: str = "auto", tol: float | None = None, maxiter: int | None = None,
                    diff: str = "implicit", nonconvex: bool = False) -> CompiledProblem:
    """Lower ``problem`` to a traceable, differentiable ``params -> Solution`` function.

    ``method``: an optimality map from the lowering table (default: chosen from
    the structure); ``solver``: the forward solver for it; ``linear_solve``: the
    implicit-differentiation solve of the first-order maps (a name from
    :mod:`optdsl.runtime.linear_solve`; the KKT lowering reuses its interior
    point's factorisation instead); ``tol`` / ``maxiter``: the solver's stopping
    rule (dtype-aware default); ``diff``: ``"implicit"`` (default),
    ``"smoothed"`` (KKT: differentiate the barrier-relaxed system) or
    ``"unrolled"`` (first-order maps: through the iterations, for comparisons);
    ``nonconvex=True`` skips the DCP check (the solution is then a local one).
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
    chosen = choose_method(structure, method, nonconvex)
    build = {"kkt": _build_kkt, "conic": _build_conic}.get(chosen, _build_first_order)
    run, texts = build(structure, chosen, solver=solver, linear_solve=linear_solve, tol=tol, maxiter=maxiter,
                       diff=diff)

    def call(params: dict[str, jax.Array], init: Solution | None) -> Solution:
        return run(params, init, _dtype(params))

    return CompiledProblem(
        fn=jax.jit(call),
        parameters=tuple(ParameterSpec(p.name, p.shape) for p in structure.parameters),
        method=texts["method"],
        description=describe(structure, tol=tol, maxiter=maxiter, **texts),
        problem=problem,
        options={"method": method, "solver": solver, "linear_solve": linear_solve, "tol": tol,
                 "maxiter": maxiter, "diff": diff, "nonconvex": nonconvex},
        conditions=lambda: conditions_latex(structure, texts["method"], smoothed=diff == "smoothed"),
    )
