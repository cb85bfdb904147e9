"""``analyze(problem)``: the structure the lowerings need, found from the model once.

The reductions every route shares happen here and nowhere else: a ``Maximize``
objective becomes the minimised negation (term by term, so the split below sees
the terms), the ``nonneg``/``nonpos`` attributes of variables become constraints
(:func:`sign_constraints`), and the model is classed as a QP or not. Variables are
packed into one vector; the minimised objective is split into a smooth part and
proxable terms (:mod:`.terms`); constraints are recognised as sets with
projections (:mod:`.sets`). Whatever is left — general constraints, non-smooth
terms without a prox here — is reported in ``leftover_constraints`` /
``leftover_terms`` for the KKT and conic lowerings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import jax
import jax.numpy as jnp

from optdsl.compiler.degree import degree
from optdsl.compiler.packing import Packing
from optdsl.compiler.sets import VariableSet, recognise_sets
from optdsl.compiler.terms import ProxTerm, non_negative_lasso, split_objective
from optdsl.modeling import Constraint, Equality, Expression, Inequality, Maximize, Parameter, Problem, Variable
from optdsl.modeling.affine.add import Add


@dataclass(frozen=True)
class Structure:
    """What the compiler found in a problem (see the module docstring)."""

    problem: Problem
    sense: float  # +1 to minimise the objective as written, -1 for Maximize
    objective: Expression  # the minimised objective: as written, or negated term by term
    variables: tuple[Variable, ...]
    parameters: tuple[Parameter, ...]
    packing: Packing
    smooth: Expression | None  # the sum of the smooth terms (minimised form)
    prox_terms: tuple[ProxTerm, ...]
    sets: tuple[VariableSet, ...]
    leftover_terms: tuple[Expression, ...]
    leftover_constraints: tuple[Constraint, ...]
    sign_constraints: tuple[Constraint, ...]  # from the variables' nonneg / nonpos attributes
    is_qp: bool  # quadratic objective, affine == / <= constraints

    @property
    def first_order(self) -> bool:
        """Whether the projected/proximal-gradient (or stationary) maps cover the whole problem."""
        return not self.leftover_terms and not self.leftover_constraints

    def smooth_value(self, z: jax.Array, params: dict[str, jax.Array]) -> jax.Array:
        """``f(z, θ)``: the smooth part of the minimised objective at packed variables ``z``."""
        if self.smooth is None:
            return jnp.zeros((), z.dtype)
        return self.smooth.evaluate({**params, **self.packing.unpack(z)}, dtype=z.dtype)

    def objective_value(self, z: jax.Array, params: dict[str, jax.Array]) -> jax.Array:
        """The minimised objective at packed variables ``z``."""
        return self.objective.evaluate({**params, **self.packing.unpack(z)}, dtype=z.dtype)

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


def minimised_objective(problem: Problem) -> tuple[float, Expression]:
    """``(sense, objective)``: ``(1, objective)`` to minimise, or ``(-1, -objective)`` for ``Maximize``.

    A maximised sum is negated term by term (``-a - b``, not ``-(a + b)``), so
    the objective split finds the same terms either way.
    """
    expr = problem.objective.expr
    if not isinstance(problem.objective, Maximize):
        return 1.0, expr
    negated = [-t for t in (expr.args if isinstance(expr, Add) else (expr,))]
    return -1.0, Add(*negated) if len(negated) > 1 else negated[0]


def sign_constraints(variables: Sequence[Variable]) -> tuple[Constraint, ...]:
    """``v >= 0`` for each variable declared ``nonneg`` and ``v <= 0`` for each ``nonpos`` one."""
    return tuple(v >= 0 if v.nonneg else v <= 0 for v in variables if v.nonneg or v.nonpos)


def _is_qp(objective: Expression, constraints: Sequence[Constraint]) -> bool:
    """A quadratic objective and affine ``==`` / ``<=`` constraints: the QP interior point's domain."""
    return degree(objective) is not None and all(
        isinstance(c, (Equality, Inequality)) and degree(c.lhs) in (0, 1) and degree(c.rhs) in (0, 1)
        for c in constraints)


def analyze(problem: Problem) -> Structure:
    """Find the structure of ``problem`` (see the module docstring)."""
    sense, objective = minimised_objective(problem)
    split = split_objective(objective)
    variables = problem.variables()
    signs = sign_constraints(variables)
    sets, leftover_constraints = recognise_sets(variables, (*problem.constraints, *signs))

    prox_terms, leftover_terms = [], list(split.rest)
    by_variable = {name: s for s in sets for name in s.variables}
    for term in split.prox_terms:
        owner = by_variable.get(term.variable)
        if owner is None:
            prox_terms.append(term)
        elif owner.kind == "nonneg" and term.kind == "l1":
            prox_terms.append(non_negative_lasso(term, owner))
            sets.remove(owner)
        else:  # a prox and a projection on one variable do not compose
            leftover_terms.append(term.term)

    smooth = None
    if split.smooth:
        smooth = Add(*split.smooth) if len(split.smooth) > 1 else split.smooth[0]
    return Structure(problem, sense, objective, tuple(variables), tuple(problem.parameters()), Packing.of(variables),
                     smooth, tuple(prox_terms), tuple(sets), tuple(leftover_terms), tuple(leftover_constraints),
                     signs, _is_qp(objective, problem.constraints))
