"""``Minimize`` / ``Maximize`` objectives and the immutable ``Problem``.

Two problems are equal (``==``, and equal hashes) when they are structurally the same:
same sense, same expressions and constraints node by node, leaves compared by kind,
name, shape and declared sign. This is what makes ``parse(p.to_opt()) == p`` testable.

``Problem.solve`` is cvxpy's eager habit: it solves with the parameters' values and
records the answer on the problem (``value``, ``status``), its variables (``value``)
and its constraints (``dual_value``).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import numpy as np

from optdsl.errors import ArgumentError, ArgumentTypeError
from optdsl.modeling.constraints import Constraint
from optdsl.modeling.dcp import expression_violations
from optdsl.modeling.errors import DCPError, ModelingError, ShapeError
from optdsl.modeling.expression import Expression, as_expression
from optdsl.modeling.leaves import Parameter, Variable, refuse_traced


class Objective:
    """A scalar expression to minimize or maximize (structurally comparable)."""

    sense: ClassVar[str]
    needed: ClassVar[str]

    def __init__(self, expr: Any):
        self._expr = as_expression(expr)
        if self._expr.shape != ():
            raise ShapeError(
                f"{self.sense}: the objective must be a scalar, got shape {self._expr.shape} for {self._expr}"
            )

    @property
    def expr(self) -> Expression:
        """The objective expression."""
        return self._expr

    def dcp_violations(self) -> list[str]:
        """Messages for broken DCP rules (minimize needs convex, maximize concave)."""
        return expression_violations(self._expr, self.needed, f"{self}: the objective of {self.sense}")

    def is_dcp(self) -> bool:
        """Convex when minimized, concave when maximized."""
        return not self.dcp_violations()

    def structure_key(self) -> tuple:
        """Hashable description: the sense and the expression's structure key."""
        return (self.sense, self._expr.structure_key())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Objective):
            return NotImplemented
        return self.structure_key() == other.structure_key()

    def __hash__(self) -> int:
        return hash(self.structure_key())

    def __str__(self) -> str:
        return f"{self.sense} {self._expr}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._expr})"


class Minimize(Objective):
    """Minimize a scalar expression (DCP when it is convex)."""

    sense = "minimize"
    needed = "convex"


class Maximize(Objective):
    """Maximize a scalar expression (DCP when it is concave)."""

    sense = "maximize"
    needed = "concave"


#: cvxpy's status strings for optdsl's status names (:mod:`optdsl.runtime.status`), as ``Problem.solve`` reports.
CVXPY_STATUS = {
    "solved": "optimal",
    "inaccurate": "optimal_inaccurate",
    "max_iterations": "user_limit",
    "infeasible": "infeasible",
    "unbounded": "unbounded",
    "numerical_error": "solver_error",
    "invalid_parameter": "solver_error",
}
#: The cvxpy statuses that come with a point (cvxpy's ``SOLUTION_PRESENT``).
SOLUTION_PRESENT = ("optimal", "optimal_inaccurate", "user_limit")


class Problem:
    """An objective and constraints: an immutable value; building one never changes its leaves.

    Only :meth:`solve` writes: the last answer, on the problem and on its leaves and constraints.

    >>> from optdsl.modeling import Minimize, Problem, Variable, sum_squares
    >>> x = Variable(2, name="x")
    >>> print(Problem(Minimize(sum_squares(x)), [x >= 1]))
    minimize sum_squares(x)
    subject to
      x >= 1
    """

    def __init__(self, objective: Objective, constraints: Iterable[Constraint] = ()):
        if not isinstance(objective, Objective):
            raise ModelingError(f"Problem: the objective must be Minimize(...) or Maximize(...), got {objective!r}")
        if isinstance(constraints, Constraint) or not isinstance(constraints, Iterable):
            raise ModelingError(f"Problem: constraints must be a list of constraints, got {constraints!r}")
        self._objective = objective
        self._constraints = tuple(constraints)
        for position, constraint in enumerate(self._constraints):
            if not isinstance(constraint, Constraint):
                raise ModelingError(
                    f"Problem: constraint {position} is {constraint!r} ({type(constraint).__name__}), not a constraint"
                )
        self._names = self._name_constraints()
        self._check_leaf_names()
        self._compiled: dict[str, Any] = {}
        self._value: float | None = None
        self._status: str | None = None

    def _name_constraints(self) -> dict[str, Constraint]:
        names: dict[str, Constraint] = {}
        for position, constraint in enumerate(self._constraints):
            name = constraint.name_at(position)
            if name in names:
                raise ModelingError(f"Problem: two constraints are named {name!r} ({names[name]} and {constraint})")
            names[name] = constraint
        return names

    def _check_leaf_names(self) -> None:
        owners: dict[str, Variable | Parameter] = {}
        for leaf in [*self.variables(), *self.parameters()]:
            other = owners.setdefault(leaf.name, leaf)
            if other is not leaf:
                raise ModelingError(
                    f"Problem: two different leaves are named {leaf.name!r}: {other!r} and {leaf!r}"
                )

    @property
    def objective(self) -> Objective:
        """The ``Minimize`` or ``Maximize`` objective."""
        return self._objective

    @property
    def constraints(self) -> tuple[Constraint, ...]:
        """The constraints, in the order given."""
        return self._constraints

    def _expressions(self) -> list[Expression]:
        return [self._objective.expr, *(a for c in self._constraints for a in c.args)]

    def variables(self) -> list[Variable]:
        """Distinct variables, by first appearance (objective first, then constraints)."""
        return list({id(v): v for e in self._expressions() for v in e.variables()}.values())

    def parameters(self) -> list[Parameter]:
        """Distinct parameters, by first appearance (objective first, then constraints)."""
        return list({id(p): p for e in self._expressions() for p in e.parameters()}.values())

    def named_constraints(self) -> dict[str, Constraint]:
        """Every constraint under its name; unnamed ones are called ``c0``, ``c1``, ... by position."""
        return dict(self._names)

    def dcp_violations(self) -> list[str]:
        """Every broken DCP rule, as ``"objective: ..."`` / ``"constraint <name>: ..."`` messages."""
        messages = [f"objective: {m}" for m in self._objective.dcp_violations()]
        for name, constraint in self._names.items():
            messages += [f"constraint {name}: {m}" for m in constraint.dcp_violations()]
        return messages

    def is_dcp(self) -> bool:
        """Whether the problem follows the DCP rules (then it is convex)."""
        return not self.dcp_violations()

    def check_dcp(self) -> None:
        """Raise ``DCPError`` listing every broken rule (innermost offending sub-expressions)."""
        violations = self.dcp_violations()
        if violations:
            raise DCPError(violations)

    def dgp_violations(self) -> list[str]:
        """Every broken rule of geometric programming (log-log curvature; see ``optdsl.modeling.dgp``)."""
        from optdsl.modeling.dgp import problem_violations

        return problem_violations(self)

    def is_dgp(self) -> bool:
        """Whether the problem follows the DGP rules: a geometric program, solved with ``compile(gp=True)``."""
        return not self.dgp_violations()

    def compile(self, gp: bool = False, **options: Any) -> Any:
        """Lower to a differentiable ``CompiledProblem`` (see ``optdsl.compiler.compile_problem``).

        Options: ``method``, ``solver``, ``linear_solve``, ``tol``, ``maxiter``, ``diff``, ``nonconvex``,
        ``verbose`` (the solver prints its iterations);
        ``gp=True`` solves the problem as a geometric program (see ``optdsl.compiler.geometric``).
        """
        from optdsl.compiler import compile_problem

        known = [name for name in inspect.signature(compile_problem).parameters if name != "problem"]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ArgumentTypeError(f"compile: unknown options {unknown}; the options are {known} and gp")
        if gp:
            from optdsl.compiler.geometric import compile_geometric

            return compile_geometric(self, **options)
        return compile_problem(self, **options)

    def compile_once(self, **options: Any) -> Any:
        """:meth:`compile` with these options the first time, the same ``CompiledProblem`` afterwards.

        :meth:`solve` and ``od.Layer`` use it, so they share one compilation (and its jitted code).
        """
        key = repr(sorted(options.items()))
        if key not in self._compiled:
            self._compiled[key] = self.compile(**options)
        return self._compiled[key]

    def solve(self, values: Mapping[Any, Any] | None = None, /, *, options: Mapping[str, Any] | None = None,
              gp: bool = False, **parameter_values: Any) -> float:
        """Solve now, as cvxpy does, and return the objective value: the quick path (``compile()`` is the fast one).

        Parameter values come as keywords (``solve(A=A0)``), as a mapping by name or by parameter object
        (``solve({A: A0})``), or from ``Parameter.value`` for those left out. The problem is compiled once
        per ``options`` (``method``, ``tol``, ... of :meth:`compile`; see :meth:`compile_once`); ``gp=True``
        solves it as a geometric program, as cvxpy's ``solve(gp=True)``. Sets
        ``problem.value``, ``problem.status`` (cvxpy's words: ``"optimal"``, ``"infeasible"``,
        ``"unbounded"``, ...; see ``CVXPY_STATUS``), ``x.value`` for every variable and ``c.dual_value``
        for every constraint. Without a point (``infeasible``, ``unbounded``, ``solver_error``) those are
        ``None`` and ``value`` is ``inf`` / ``-inf`` as cvxpy has it (``nan`` for an error).
        """
        self._check_solve_keywords(parameter_values)
        solution = self.compile_once(**(options or {}), **({"gp": True} if gp else {}))(values, **parameter_values)
        refuse_traced("Problem.solve (recording x.value, problem.value and problem.status)", solution)
        self._status = CVXPY_STATUS[solution.status_name()]
        present = self._status in SOLUTION_PRESENT
        for variable in self.variables():
            variable._set_solved(np.asarray(solution[variable.name]) if present else None)
        for name, constraint in self._names.items():
            dual = solution.duals.get(name) if present else None
            constraint._dual_value = None if dual is None else np.asarray(dual)
        self._value = float(solution.objective) if present else self._value_without_point()
        return self._value

    def _check_solve_keywords(self, parameter_values: Mapping[str, Any]) -> None:
        from optdsl.compiler import compile_problem

        names = {p.name for p in self.parameters()}
        misplaced = sorted((set(parameter_values) - names) & set(inspect.signature(compile_problem).parameters))
        if misplaced:
            raise ArgumentError(f"Problem.solve: {misplaced} are compile options, not parameters of the problem; "
                                f"pass them as options={{...}}")

    def _value_without_point(self) -> float:
        worst = math.inf if isinstance(self._objective, Minimize) else -math.inf
        return {"infeasible": worst, "unbounded": -worst}.get(self._status or "", math.nan)

    @property
    def value(self) -> float | None:
        """The objective value the last :meth:`solve` found (``None`` before one)."""
        return self._value

    @property
    def status(self) -> str | None:
        """The last :meth:`solve`'s status in cvxpy's words (``"optimal"``, ...; ``None`` before one)."""
        return self._status

    def to_opt(self, with_data: bool = False) -> str | tuple[str, dict[str, Any]]:
        """This problem as ``.opt`` text (see ``optdsl.grammar.writer.to_opt``); ``parse`` reads it back.

        Constants that cannot be written as literals (arrays that are not short vectors) become
        ``param`` declarations named ``const1``, ...; ``with_data=True`` returns ``(text, values)``.

        >>> from optdsl.modeling import Minimize, Variable, norm1
        >>> print(Problem(Minimize(norm1(Variable(3, name="x")))).to_opt(), end="")
        var x[3]
        minimize norm1(x)
        """
        from optdsl.grammar.writer import to_opt

        return to_opt(self, with_data=with_data)

    def to_cvxpy(self, values: dict[str, Any] | None = None) -> Any:
        """This problem as a ``cvxpy.Problem`` (see ``optdsl.interop.cvxpy.to_cvxpy``), for cross-checking.

        ``values`` (parameter name -> array) sets the cvxpy parameters' values; those it leaves out keep
        their ``Parameter.value``.
        """
        from optdsl.interop.cvxpy import to_cvxpy

        return to_cvxpy(self, values)

    def to_latex(self) -> str:
        """This problem as LaTeX, rendered through sympy (see ``optdsl.modeling.latex``)."""
        from optdsl.modeling.latex import to_latex

        return to_latex(self)

    def structure_key(self) -> tuple:
        """Hashable description of the whole problem (see the module docstring)."""
        return (self._objective.structure_key(), tuple(c.structure_key() for c in self._constraints))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Problem):
            return NotImplemented
        return self.structure_key() == other.structure_key()

    def __hash__(self) -> int:
        return hash(self.structure_key())

    def __str__(self) -> str:
        lines = [str(self._objective)]
        if self._constraints:
            lines.append("subject to")
            lines += [f"  {c}" for c in self._constraints]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Problem({self._objective!r}, {list(self._constraints)!r})"
