"""``compile_problem``: a Problem in, a differentiable ``CompiledProblem`` out.

Method selection follows the lowering table (docs/lowering.md): the structure
found by :func:`~optdsl.compiler.analyze.analyze` picks a route, the route's
:class:`~optdsl.compiler.lowerings.Lowering` builds the solver and its optimality
map, and the whole ``params -> Solution`` function is jitted.

:func:`choose_lowering` decides, and says why in one line (``explain`` prints it).
An objective with an atom finite only on part of its domain (``log``, ``entropy``,
``log_det``, ``inv_pos``, ...; ``Atom.restricted_domain``) never goes to a
first-order map, whose trial points can leave that domain: it goes to the mirror
map when every variable lies on a simplex (its iterates stay inside), else to the
conic form, else to the KKT interior point.

The decisions are logged on the ``optdsl.compiler`` logger (Python ``logging``, nothing shown
unless a handler is configured): the route and why at INFO, the conic form's size and the
differentiation (dense factorisation or matrix-free) at DEBUG.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from numbers import Real

import jax

from optdsl.compiler.analyze import Structure, analyze
from optdsl.compiler.conic import canonicalize
from optdsl.compiler.degree import degree
from optdsl.compiler.domains import parameter_domains
from optdsl.compiler.explain import describe
from optdsl.compiler.lowerings import LOWERINGS, Conic, Diff, KKT, Lowering, Mirror, Options
from optdsl.compiler.lowerings.proximal import ProjectedGradient, ProximalGradient
from optdsl.compiler.lowerings.stationary import Stationary
from optdsl.errors import ArgumentError, CompileError
from optdsl.modeling import Equality, Expression, Inequality, ModelingError, Problem
from optdsl.runtime.compilation_cache import jit_by_position
from optdsl.runtime.compiled import CompiledProblem, ParameterSpec, Solution
from optdsl.runtime.dtypes import float_dtype
from optdsl.runtime.implicit_diff import forward_shared
from optdsl.runtime.linear_solve import SOLVERS as LINEAR_SOLVERS
from optdsl.runtime.solvers.base import check_count

#: The ``method=`` names, in the order of the lowering table.
METHODS = tuple(LOWERINGS)

logger = logging.getLogger("optdsl.compiler")

#: Why each first-order map is the default for a model it covers.
_FIRST_ORDER_REASONS = {
    Stationary: "smooth objective, no constraints",
    ProjectedGradient: "smooth objective, every constraint is a set with a known projection",
    ProximalGradient: "smooth part plus non-smooth terms with a known proximal operator",
}


@dataclass(frozen=True)
class Route:
    """The lowering chosen for a model, and why in one line (``explain`` prints it)."""

    lowering: type[Lowering]
    reason: str

    def __call__(self, structure: Structure, options: Options) -> Lowering:
        """The lowering built for ``structure``, carrying this route's reason."""
        lowering = self.lowering(structure, options)
        lowering.reason = self.reason
        return lowering


def _default_first_order(structure: Structure) -> type[Lowering]:
    if structure.prox_terms:
        return ProximalGradient
    return ProjectedGradient if structure.sets else Stationary


def _leftovers(structure: Structure) -> list[str]:
    """The terms and constraints no projection or proximal operator covers ("term t", "constraint c")."""
    return [*(f"term {t}" for t in structure.leftover_terms),
            *(f"constraint {c}" for c in structure.leftover_constraints)]


def _smooth_kkt(structure: Structure) -> bool:
    """A smooth objective and smooth ``==`` / ``<=`` constraints: the NLP interior point applies."""
    return structure.objective.is_smooth() and all(
        isinstance(c, (Equality, Inequality)) and c.lhs.is_smooth() and c.rhs.is_smooth()
        for c in structure.problem.constraints)


def _linear_over_sets(structure: Structure) -> bool:
    """A constant or linear objective over sets: its solutions sit on their boundary, where a projection stalls."""
    return degree(structure.objective) in (0, 1) and bool(structure.sets)


def _domain_words(restricted: list[Expression]) -> str:
    """Why atoms finite only on part of their domain rule out a first-order map, in words."""
    names = list(dict.fromkeys(node.name for node in restricted))
    if len(names) == 1:
        return f"the objective's {names[0]} is finite only on part of its domain, which a first-order step can leave"
    listed = f"{', '.join(names[:-1])} and {names[-1]}"
    return f"the objective's {listed} are finite only on part of their domains, which a first-order step can leave"


def _mirror_misfit(structure: Structure) -> str:
    """What keeps the mirror map from covering the model ('' when every variable lies on a simplex, nothing else)."""
    other = [s.kind for s in structure.sets if s.kl_step is None]
    covered = {name for s in structure.sets for name in s.variables}
    free = [v.name for v in structure.variables if v.name not in covered]
    return ", ".join(filter(None, [
        f"free variables {free}" if free else "",
        f"other sets {other}" if other else "",
        f"non-smooth terms {[str(t.term) for t in structure.prox_terms]}" if structure.prox_terms else "",
    ]))


def _conic_refusal(problem: Problem) -> str:
    """Why the model has no conic form ('' when it has one: every atom states a graph form that applies)."""
    try:
        canonicalize(problem)
    except (CompileError, ModelingError) as error:
        return str(error)
    return ""


def _domain_route(structure: Structure, restricted: list[Expression]) -> Route:
    """The route of a model whose objective has atoms finite only on part of their domain: mirror, conic or kkt."""
    why = _domain_words(restricted)
    if not _mirror_misfit(structure):
        return Route(Mirror, f"{why}; every variable lies on a simplex, whose interior mirror descent keeps")
    refusal = _conic_refusal(structure.problem)
    if not refusal:
        return Route(Conic, why)
    if _smooth_kkt(structure):
        return Route(KKT, f"{why}, and the model has no conic form ({refusal}); the interior point starts at "
                          "z = 0, or inside the objective's domain when z = 0 is not, unless init= gives a start")
    raise CompileError(f"no method applies: {why}; the model has no conic form ({refusal}) and the KKT lowering "
                       "needs a smooth objective with smooth == and <= constraints")


def _default_route(structure: Structure, nonconvex: bool) -> Route:
    """The route the lowering table gives the model (see the module docstring)."""
    interior = KKT if structure.is_qp else Conic
    if not structure.first_order:
        outside = ", ".join(f"the {part}" for part in _leftovers(structure))
        if nonconvex and _smooth_kkt(structure):
            return Route(KKT, f"no projection covers {outside}, and the model is smooth but not convex: the NLP "
                              "interior point finds a local solution")
        if structure.is_qp:
            return Route(KKT, f"a QP (quadratic objective, affine constraints) and no projection covers {outside}")
        return Route(Conic, f"no projection or proximal operator covers {outside}; the conic form takes any DCP model")
    if _linear_over_sets(structure):
        return Route(interior, "a linear objective over sets: its solutions lie on their boundary, where a "
                               "projected-gradient step does not settle")
    restricted = structure.objective.restricted_nodes()
    if restricted:
        return _domain_route(structure, restricted)
    default = _default_first_order(structure)
    return Route(default, _FIRST_ORDER_REASONS[default])


def _requested_first_order(structure: Structure, method: str, default: Route) -> type[Lowering]:
    """The first-order lowering ``method`` names when it covers the model; a ``CompileError`` saying why not."""
    use = f"use method={default.lowering.name!r} (the default for this model)"
    if not structure.first_order:
        parts = "".join(f"  {part}\n" for part in _leftovers(structure))
        raise CompileError(f"method={method!r} does not apply: these parts have no projection or proximal operator:\n"
                           f"{parts}{use}")
    if _linear_over_sets(structure):
        raise CompileError(f"method={method!r} does not apply: the objective is linear, so its solutions lie on the "
                           f"boundary of the sets, where a projected-gradient step does not settle; {use}")
    if method == "mirror":
        misfit = _mirror_misfit(structure)
        if misfit:
            raise CompileError("method='mirror' needs every variable on a probability simplex (x >= 0 with "
                               "sum(x) == r, or row-/column-wise sum(X, axis=a) == r) and no non-smooth terms; "
                               f"{misfit}")
        return Mirror
    restricted = structure.objective.restricted_nodes()
    if restricted:
        raise CompileError(f"method={method!r} does not apply: {_domain_words(restricted)}; {use}")
    first = _default_first_order(structure)
    if method == "proximal_gradient" and first is ProjectedGradient:
        return ProjectedGradient  # a projection is the prox of an indicator
    why = ("it has non-smooth terms" if structure.prox_terms else "it has constraints" if structure.sets
           else "it is unconstrained and smooth")
    raise CompileError(f"method={method!r} does not apply: the model's structure calls for {first.name!r} ({why})")


def choose_lowering(structure: Structure, method: str | None, nonconvex: bool = False) -> Route:
    """The route to take, and why: the requested ``method`` if it applies, else the default of the lowering table.

    A requested method that cannot handle the model is a ``CompileError`` saying why and what to use.
    """
    if method is not None and method not in LOWERINGS:
        raise CompileError(f"unknown method {method!r}; choose one of {list(METHODS)}")
    default = _default_route(structure, nonconvex)
    if method is None or method == default.lowering.name:
        return default
    requested = f"requested with method={method!r}"
    if method in ("kkt", "conic"):
        return Route(LOWERINGS[method], requested)
    return Route(_requested_first_order(structure, method, default), requested)


def _log_decisions(lowering: Lowering) -> None:
    """Log the route and why (INFO), the conic form's size and the differentiation (DEBUG)."""
    logger.info("method %s (solver %s): %s", lowering.name, lowering.solver, lowering.reason)
    if isinstance(lowering, Conic):
        logger.debug("conic form: %d variables, %d cone rows (%s)", lowering.form.size, lowering.form.cones.dim,
                     lowering.form.cones)
    logger.debug("differentiation: %s", lowering.differentiation_text)


def compile_problem(problem: Problem, *, method: str | None = None, solver: str | None = None,
                    linear_solve: str = "auto", tol: float | None = None, maxiter: int | None = None,
                    diff: str | Diff = "implicit", nonconvex: bool = False, verbose: bool = False) -> CompiledProblem:
    """Lower ``problem`` to a traceable, differentiable ``params -> Solution`` function.

    ``method``: an optimality map from the lowering table (default: chosen from
    the structure; one of :data:`METHODS`); ``solver``: the forward solver for it;
    ``linear_solve``: the implicit-differentiation solve of the first-order and
    conic maps (a name from :mod:`optdsl.runtime.linear_solve`; the KKT lowering
    reuses its interior point's factorisation instead); ``tol`` / ``maxiter``: the
    solver's stopping rule (dtype-aware default); ``diff``: ``"implicit"``
    (default), ``"smoothed"`` (KKT: differentiate the barrier-relaxed system) or
    ``"unrolled"`` (first-order maps: through the iterations, for comparisons);
    ``nonconvex=True`` skips the DCP check (the solution is then a local one);
    ``verbose=True``: the solver prints its iteration log and final status from inside the
    compiled program (with ``False``, the default, the program holds no printing at all).
    """
    if not isinstance(problem, Problem):
        raise CompileError(f"compile expects a Problem, got {type(problem).__name__}")
    if maxiter is not None:
        check_count("maxiter", maxiter, 1)
    if tol is not None and (isinstance(tol, bool) or not isinstance(tol, Real) or not 0 < tol < math.inf):
        raise ArgumentError(f"tol must be a positive number, got {tol!r}")
    options = Options(solver, linear_solve, tol, maxiter, Diff.of(diff), bool(verbose))
    if linear_solve not in LINEAR_SOLVERS:
        raise CompileError(f"unknown linear_solve {linear_solve!r}; choose one of {sorted(LINEAR_SOLVERS)}")
    empty = [f"{v.name} {v.shape}" for v in problem.variables() if v.size == 0]
    if empty:
        raise CompileError(f"variables without entries: {', '.join(empty)} (a dimension of size 0)")
    if not nonconvex:
        problem.check_dcp()
    structure = analyze(problem)
    lowering = choose_lowering(structure, method, nonconvex)(structure, options)
    _log_decisions(lowering)
    domains = parameter_domains(problem, tol, trusted=not nonconvex)
    run = lowering.run(domains)

    def call(params: dict[str, jax.Array], init: Solution | None) -> Solution:
        return run(params, init, float_dtype(*(v.dtype for v in params.values())))

    return CompiledProblem(
        fn=forward_shared(call) if lowering.solves_under_custom_root else jit_by_position(call),
        parameters=tuple(ParameterSpec(p.name, p.shape) for p in structure.parameters),
        method=lowering.name,
        description=describe(lowering),
        problem=problem,
        options={"method": method, "solver": solver, "linear_solve": linear_solve, "tol": tol,
                 "maxiter": maxiter, "diff": options.diff.value, "nonconvex": nonconvex, "verbose": options.verbose},
        conditions=lowering.conditions_latex,
        domains=domains,
    )
