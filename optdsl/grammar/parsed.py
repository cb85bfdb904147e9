"""``ParsedProblem``: a ``Problem`` that remembers where in its ``.opt`` file each part was written.

It is equal (``==``, same hash) to the same problem built in Python; the only difference
is ``check_dcp``, which raises a ``LocatedDCPError`` pointing at the innermost offending
sub-expression of each objective or constraint that breaks the DCP rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from optdsl.grammar.errors import LocatedDCPError, Location
from optdsl.modeling.constraints import Constraint
from optdsl.modeling.dcp import culprits
from optdsl.modeling.expression import Expression
from optdsl.modeling.problem import Objective, Problem


class ParsedProblem(Problem):
    """A ``Problem`` from ``.opt`` text, with the places of its objective, constraints and built nodes.

    ``built`` maps ``id(node)`` to the place that built the node (its operator, called name or
    subscript) for nodes of this problem; ``objective_at`` and ``constraint_at`` are the places
    of the objective keyword and of each constraint, used when no inner node is to blame;
    ``dims``: the size of each dim the file declares, for expressions written over the problem later
    (``parse_expression``).
    """

    def __init__(
        self,
        objective: Objective,
        constraints: Iterable[Constraint],
        *,
        objective_at: Location,
        constraint_at: Sequence[Location],
        built: Mapping[int, Location],
        dims: Mapping[str, int] | None = None,
    ):
        super().__init__(objective, constraints)
        self.dims = dict(dims or {})
        nodes = {id(n) for e in self._expressions() for n in e.subexpressions()}
        self._built = {key: at for key, at in built.items() if key in nodes}
        self._objective_at = objective_at
        self._constraint_at = tuple(constraint_at)

    def _place(self, expressions: Sequence[Expression], fallback: Location) -> Location:
        for expr in expressions:
            for node in culprits(expr):
                if id(node) in self._built:
                    return self._built[id(node)]
        return fallback

    def check_dcp(self) -> None:
        """Raise ``LocatedDCPError`` (a ``DCPError``) listing every broken rule at its place in the file."""
        violations = self.dcp_violations()
        if not violations:
            return
        at = self._place([self.objective.expr], self._objective_at)
        places = [(f"objective: {m}", at) for m in self.objective.dcp_violations()]
        for (name, constraint), fallback in zip(self.named_constraints().items(), self._constraint_at):
            at = self._place(constraint.args, fallback)
            places += [(f"constraint {name}: {m}", at) for m in constraint.dcp_violations()]
        raise LocatedDCPError(violations, places)
