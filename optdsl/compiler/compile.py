"""``compile_problem``: a Problem in, a differentiable ``CompiledProblem`` out.

Method selection follows the lowering table (docs/lowering.md): the structure
found by :func:`~optdsl.compiler.analyze.analyze` picks a route, the route's
:class:`~optdsl.compiler.lowerings.Lowering` builds the solver and its optimality
map, and the whole ``params -> Solution`` function is jitted.
"""

from __future__ import annotations

import jax

from optdsl.compiler.analyze import Structure, analyze
from optdsl.compiler.degree import degree
from optdsl.compiler.domains import parameter_domains
from optdsl.compiler.explain import describe
from optdsl.compiler.lowerings import LOWERINGS, Diff, Lowering, Options
from optdsl.compiler.lowerings.proximal import ProjectedGradient, ProximalGradient
from optdsl.compiler.lowerings.stationary import Stationary
from optdsl.errors import CompileError
from optdsl.modeling import Equality, Inequality, Problem
from optdsl.runtime.compiled import CompiledProblem, ParameterSpec, Solution
from optdsl.runtime.dtypes import float_dtype
from optdsl.runtime.linear_solve import SOLVERS as LINEAR_SOLVERS

#: The ``method=`` names, in the order of the lowering table.
METHODS = tuple(LOWERINGS)


def _default_first_order(structure: Structure) -> type[Lowering]:
    if structure.prox_terms:
        return ProximalGradient
    return ProjectedGradient if structure.sets else Stationary


def _leftover_message(structure: Structure) -> str:
    parts = [f"  term {t}" for t in structure.leftover_terms]
    parts += [f"  constraint {c}" for c in structure.leftover_constraints]
    return "\n".join(parts)


def _smooth_kkt(structure: Structure) -> bool:
    """A smooth objective and smooth ``==`` / ``<=`` constraints: the NLP interior point applies."""
    return structure.objective.is_smooth() and all(
        isinstance(c, (Equality, Inequality)) and c.lhs.is_smooth() and c.rhs.is_smooth()
        for c in structure.problem.constraints)


def choose_lowering(structure: Structure, method: str | None, nonconvex: bool = False) -> type[Lowering]:
    """The lowering to use: the requested ``method`` if it applies, else the default of the lowering table."""
    if method is not None and method not in LOWERINGS:
        raise CompileError(f"unknown method {method!r}; choose one of {list(METHODS)}")
    if method in ("kkt", "conic"):
        return LOWERINGS[method]
    interior = LOWERINGS["kkt" if structure.is_qp else "conic"]
    if nonconvex and method is None and not structure.first_order and _smooth_kkt(structure):
        return LOWERINGS["kkt"]  # a non-convex smooth model: the NLP interior point finds a local solution
    linear_program = degree(structure.objective) in (0, 1) and bool(structure.sets)
    if not structure.first_order or linear_program:  # an LP needs an interior point, not a projection
        if method is None:
            return interior
        raise CompileError(
            f"method={method!r} does not apply: these parts have no projection or proximal operator:\n"
            f"{_leftover_message(structure)}\n"
            f"use method={interior.name!r} (the default for this model)")
    default = _default_first_order(structure)
    if method is None or method == default.name:
        return default
    if method == "proximal_gradient" and default is ProjectedGradient:
        return ProjectedGradient  # a projection is the prox of an indicator
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
        return LOWERINGS["mirror"]
    why = ("it has non-smooth terms" if structure.prox_terms else "it has constraints" if structure.sets
           else "it is unconstrained and smooth")
    raise CompileError(f"method={method!r} does not apply: the model's structure calls for {default.name!r} ({why})")


def compile_problem(problem: Problem, *, method: str | None = None, solver: str | None = None,
                    linear_solve: str = "auto", tol: float | None = None, maxiter: int | None = None,
                    diff: str | Diff = "implicit", nonconvex: bool = False) -> CompiledProblem:
    """Lower ``problem`` to a traceable, differentiable ``params -> Solution`` function.

    ``method``: an optimality map from the lowering table (default: chosen from
    the structure; one of :data:`METHODS`); ``solver``: the forward solver for it;
    ``linear_solve``: the implicit-differentiation solve of the first-order and
    conic maps (a name from :mod:`optdsl.runtime.linear_solve`; the KKT lowering
    reuses its interior point's factorisation instead); ``tol`` / ``maxiter``: the
    solver's stopping rule (dtype-aware default); ``diff``: ``"implicit"``
    (default), ``"smoothed"`` (KKT: differentiate the barrier-relaxed system) or
    ``"unrolled"`` (first-order maps: through the iterations, for comparisons);
    ``nonconvex=True`` skips the DCP check (the solution is then a local one).
    """
    if not isinstance(problem, Problem):
        raise CompileError(f"compile expects a Problem, got {type(problem).__name__}")
    options = Options(solver, linear_solve, tol, maxiter, Diff.of(diff))
    if linear_solve not in LINEAR_SOLVERS:
        raise CompileError(f"unknown linear_solve {linear_solve!r}; choose one of {sorted(LINEAR_SOLVERS)}")
    if not nonconvex:
        problem.check_dcp()
    structure = analyze(problem)
    lowering = choose_lowering(structure, method, nonconvex)(structure, options)
    domains = parameter_domains(problem, tol, trusted=not nonconvex)
    run = lowering.run(domains)

    def call(params: dict[str, jax.Array], init: Solution | None) -> Solution:
        return run(params, init, float_dtype(*(v.dtype for v in params.values())))

    return CompiledProblem(
        fn=jax.jit(call),
        parameters=tuple(ParameterSpec(p.name, p.shape) for p in structure.parameters),
        method=lowering.name,
        description=describe(lowering),
        problem=problem,
        options={"method": method, "solver": solver, "linear_solve": linear_solve, "tol": tol,
                 "maxiter": maxiter, "diff": options.diff.value, "nonconvex": nonconvex},
        conditions=lowering.conditions_latex,
        domains=domains,
    )
