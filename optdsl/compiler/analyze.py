"""``analyze(problem)``: the structure the lowering needs, found from the model.

Variables are packed into one vector; the objective (negated for ``Maximize``)
is split into a smooth part and proxable terms (:mod:`.terms`); constraints are
recognised as sets with projections (:mod:`.sets`). Whatever is left — general
constraints, non-smooth terms without a prox here — is reported in
``leftover_constraints`` / ``leftover_terms`` for the KKT and conic lowerings.
"""

from __future__ import annotations

from dataclasses import dataclass

from optdsl.compiler.packing import Packing
from optdsl.compiler.sets import VariableSet, recognise_sets
from optdsl.compiler.terms import ProxTerm, non_negative_lasso, split_objective
from optdsl.modeling import Constraint, Expression, Maximize, Parameter, Problem, Variable
from optdsl.modeling.affine.add import Add


@dataclass(frozen=True)
class Structure:
    """What the compiler found in a problem (see the module docstring)."""

    problem: Problem
    sense: float  # +1 to minimise the objective as written, -1 for Maximize
    variables: tuple[Variable, ...]
    parameters: tuple[Parameter, ...]
    packing: Packing
    smooth: Expression | None  # the sum of the smooth terms (minimised form)
    prox_terms: tuple[ProxTerm, ...]
    sets: tuple[VariableSet, ...]
    leftover_terms: tuple[Expression, ...]
    leftover_constraints: tuple[Constraint, ...]

    @property
    def first_order(self) -> bool:
        """Whether the projected/proximal-gradient (or stationary) maps cover the whole problem."""
        return not self.leftover_terms and not self.leftover_constraints

    def summary(self) -> str:
        """The split in words, for ``explain``."""
        lines = [f"smooth part f: {self.smooth if self.smooth is not None else '0'}"]
        for t in self.prox_terms:
            lines.append(f"non-smooth term: {t.term}  (prox: {t.kind} on {t.variable})")
        for s in self.sets:
            lines.append(f"set on {', '.join(s.variables)}: {s.kind}  ({s.description})")
        for t in self.leftover_terms:
            lines.append(f"non-smooth term without a prox here: {t}")
        for c in self.leftover_constraints:
            lines.append(f"general constraint: {c}")
        return "\n".join(lines)


def analyze(problem: Problem) -> Structure:
    """Find the structure of ``problem`` (see the module docstring)."""
    sense = -1.0 if isinstance(problem.objective, Maximize) else 1.0
    expr = problem.objective.expr
    terms = list(expr.args) if isinstance(expr, Add) else [expr]
    minimised = terms if sense > 0 else [-t for t in terms]
    split = split_objective(Add(*minimised) if len(minimised) > 1 else minimised[0])
    variables = problem.variables()
    sets, leftover_constraints = recognise_sets(variables, problem.constraints)

    prox_terms, leftover_terms = [], list(split.rest)
    by_variable = {name: s for s in sets for name in s.variables}
    for term in split.prox_terms:
        owner = by_variable.get(term.variable)
        if owner is None:
            prox_terms.append(term)
        elif owner.kind == "nonneg" and term.kind == "l1":
            prox_terms.append(non_negative_lasso(term))
            sets.remove(owner)
        else:  # a prox and a projection on one variable do not compose
            leftover_terms.append(term.term)

    smooth = None
    if split.smooth:
        smooth = Add(*split.smooth) if len(split.smooth) > 1 else split.smooth[0]
    return Structure(problem, sense, tuple(variables), tuple(problem.parameters()), Packing.of(variables),
                     smooth, tuple(prox_terms), tuple(sets), tuple(leftover_terms), tuple(leftover_constraints))
