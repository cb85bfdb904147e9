"""Disciplined geometric programming (DGP): log-log curvature, and the change of variables ``u = log x``.

A geometric program has positive variables and is convex after taking logs of everything:
``f`` is *log-log convex* when ``F(u) = log f(exp(u))`` is convex. Monomials
(``c * x**a * y**b``, ``c > 0``) are log-log affine, posynomials (sums of monomials) log-log
convex. As with DCP, the curvature of a node follows from its atom's log-log curvature and
monotonicity (:func:`optdsl.modeling.curvature.compose` applies unchanged), starting from the
leaves: a variable or parameter declared ``pos=True`` or a positive constant. The rules are
cvxpy's, for the atoms optdsl has:

* log-log affine, their log a sum or multiple of the arguments' logs: ``*``, ``/``,
  ``power``, ``x ** c`` (``c`` a parameter), ``sqrt``, ``square``, ``inv_pos``, ``prod``,
  ``geo_mean``, indexing, reshape, transpose, stacking, ``diag`` of a matrix;
* log-log convex, their log a ``log_sum_exp``: ``+``, ``sum``, ``@``, ``trace``, ``norm1``,
  ``norm2``, ``pnorm``, ``sum_squares``, ``quad_form``, ``quad_over_lin``;
* log-log convex, their log a ``max`` / ``maximum`` of logs: ``max``, ``maximum``,
  ``norm_inf``; and ``exp``, whose log is ``exp`` of the log;
* log-log concave: ``min``, ``minimum``, ``harmonic_mean`` (``log(n) - log_sum_exp(-u)``) and
  ``log`` (``log`` of the log).

Every atom is increasing in its arguments (they are positive) but ``/`` and ``quad_over_lin`` in
their denominators and powers with a negative exponent. A problem is DGP when it minimises a
log-log convex (or maximises a log-log concave) objective subject to ``convex <= concave`` and
``affine == affine``; :func:`log_space` then writes it over ``u = log x``, a DCP problem.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from optdsl.modeling import affine, atoms
from optdsl.modeling.atom import Atom
from optdsl.modeling.atoms.parameter_power import ParameterPower
from optdsl.modeling.constraints import Constraint, Equality, Inequality
from optdsl.modeling.curvature import Curvature, Monotonicity, compose
from optdsl.modeling.evaluation import children_first
from optdsl.modeling.expression import Expression
from optdsl.modeling.leaves import Constant, Parameter, Variable
from optdsl.modeling.shapes import Shape

if TYPE_CHECKING:
    from optdsl.modeling.problem import Problem

INCREASING, DECREASING, NOT_MONOTONE = Monotonicity.INCREASING, Monotonicity.DECREASING, Monotonicity.NONE

#: ``lower(node, logs, space)``: the log of a node from the logs of its log-log arguments.
Lower = Callable[[Atom, list[Expression], "LogSpace"], Expression]


@dataclass(frozen=True)
class Rule:
    """An atom's DGP rule: log-log convex / concave, monotone how, and its node's log from its arguments' logs.

    ``lower(node, logs, space)`` gets the logs of the node's log-log arguments (``arguments``; all
    arguments but a parameter exponent) and returns the log of the node; ``space`` gives the
    parameters that enter as they are (:meth:`LogSpace.raw`).
    """

    convex: Callable[[Atom], bool]
    concave: Callable[[Atom], bool]
    lower: Lower
    monotonicity: Callable[[Atom, int], Monotonicity] = lambda node, index: INCREASING
    arguments: Callable[[Atom], tuple[Expression, ...]] = lambda node: node.args


def _always(node: Atom) -> bool:
    return True


def _never(node: Atom) -> bool:
    return False


def _affine(lower: Lower, **more) -> Rule:
    return Rule(_always, _always, lower, **more)


def _convex(lower: Lower, **more) -> Rule:
    return Rule(_always, _never, lower, **more)


def _concave(lower: Lower, **more) -> Rule:
    return Rule(_never, _always, lower, **more)


def _broadcast(expr: Expression, shape: Shape) -> Expression:
    return expr if expr.shape == shape else expr + np.zeros(shape)


def _log_add(node: Atom, logs: list[Expression], space: LogSpace) -> Expression:
    """``log(sum_k exp(l_k))`` entry by entry, the terms broadcast to the node's shape."""
    if not node.shape:
        return atoms.log_sum_exp(affine.hstack([affine.reshape(part, (1,)) for part in logs]))
    size = node.size
    rows = [affine.reshape(_broadcast(part, node.shape), (1, size)) for part in logs]
    return affine.reshape(atoms.log_sum_exp(affine.vstack(rows), axis=0), node.shape)


def _log_matmul(node: Atom, logs: list[Expression], space: LogSpace) -> Expression:
    """``log((A @ B)_ij) = log_sum_exp_k(log A_ik + log B_kj)``, one column of the product at a time."""
    a, b = logs
    a = a if a.ndim == 2 else affine.reshape(a, (1, a.size))
    b = b if b.ndim == 2 else affine.reshape(b, (b.size, 1))
    columns = [atoms.log_sum_exp(a + b[:, j], axis=1, keepdims=True) for j in range(b.shape[1])]
    return affine.reshape(affine.hstack(columns), node.shape)


def _reduce(atom: Callable[..., Expression], scale: Callable[[Atom], float] = lambda node: 1.0) -> Lower:
    """The log of a reduction along the node's axis: ``atom(p * log x) / p`` for ``p = scale(node)``."""
    def lower(node: Atom, logs: list[Expression], space: LogSpace) -> Expression:
        (x,), p = logs, scale(node)
        reduced = atom(x if p == 1 else p * x, axis=node.axis, keepdims=node.keepdims)
        return reduced if p == 1 else reduced / p
    return lower


def _scaled(factor: Callable[[Atom], float]) -> Lower:
    return lambda node, logs, space: factor(node) * logs[0]


def _log_sum_all(x: Expression) -> Expression:
    """``log(sum(exp(x)))`` over every entry (``x`` itself for a scalar)."""
    return atoms.log_sum_exp(x) if x.shape else x


def _quad_form(node: Atom, logs: list[Expression], space: LogSpace) -> Expression:
    x, P = logs
    n = node.args[0].size
    return atoms.log_sum_exp(P + affine.reshape(x, (n, 1)) + affine.reshape(x, (n,)))


def _geo_mean(node: Atom, logs: list[Expression], space: LogSpace) -> Expression:
    (x,) = logs
    return affine.sum(affine.multiply(np.reshape(node.weights, x.shape), x))


def _power_monotonicity(node: Atom, index: int) -> Monotonicity:
    return INCREASING if node.p > 0 else DECREASING


def _exponent_monotonicity(node: Atom, index: int) -> Monotonicity:
    exponent = node.args[1]
    return INCREASING if exponent.is_nonneg() else DECREASING if exponent.is_nonpos() else NOT_MONOTONE


#: The DGP rule of each atom class (an atom not listed has no log-log curvature).
RULES: dict[type, Rule] = {
    affine.Multiply: _affine(lambda node, logs, space: logs[0] + logs[1]),
    affine.Divide: _affine(lambda node, logs, space: logs[0] - logs[1],
                           monotonicity=lambda node, index: DECREASING if index else INCREASING),
    atoms.Power: _affine(_scaled(lambda node: node.p), monotonicity=_power_monotonicity),
    atoms.Sqrt: _affine(_scaled(lambda node: 0.5)),
    atoms.Square: _affine(_scaled(lambda node: 2.0)),
    atoms.InvPos: _affine(_scaled(lambda node: -1.0), monotonicity=lambda node, index: DECREASING),
    ParameterPower: _affine(lambda node, logs, space: space.raw(node.exponent) * logs[0],
                            monotonicity=_exponent_monotonicity, arguments=lambda node: node.args[:1]),
    atoms.Prod: _affine(_reduce(affine.sum)),
    atoms.GeoMean: _affine(_geo_mean),
    # nodes that select or move entries: the same operation on the logs (diag only as it extracts)
    affine.Index: _affine(lambda node, logs, space: affine.Index(logs[0], node.key)),
    affine.Reshape: _affine(lambda node, logs, space: affine.reshape(logs[0], node.new_shape)),
    affine.Transpose: _affine(lambda node, logs, space: affine.transpose(logs[0])),
    affine.Concatenate: _affine(lambda node, logs, space: affine.concatenate(logs, axis=node.axis)),
    affine.HStack: _affine(lambda node, logs, space: affine.hstack(logs)),
    affine.VStack: _affine(lambda node, logs, space: affine.vstack(logs)),
    affine.Diag: Rule(lambda node: node.args[0].ndim == 2, lambda node: node.args[0].ndim == 2,
                      lambda node, logs, space: affine.diag(logs[0])),
    affine.Add: _convex(_log_add),
    affine.Sum: _convex(_reduce(atoms.log_sum_exp)),
    affine.MatMul: _convex(_log_matmul),
    affine.Trace: _convex(lambda node, logs, space: _log_sum_all(affine.diag(logs[0]))),
    atoms.Norm1: _convex(_reduce(atoms.log_sum_exp)),
    atoms.Norm2: _convex(_reduce(atoms.log_sum_exp, lambda node: 2.0)),
    atoms.Pnorm: _convex(_reduce(atoms.log_sum_exp, lambda node: node.p)),
    atoms.SumSquares: _convex(lambda node, logs, space: _log_sum_all(2.0 * logs[0])),
    atoms.QuadForm: _convex(_quad_form),
    atoms.QuadOverLin: _convex(lambda node, logs, space: _log_sum_all(2.0 * logs[0]) - logs[1],
                               monotonicity=lambda node, index: DECREASING if index else INCREASING),
    atoms.Max: _convex(_reduce(atoms.max)),
    atoms.NormInf: _convex(_reduce(atoms.max)),
    atoms.Maximum: _convex(lambda node, logs, space: atoms.maximum(*logs)),
    atoms.Exp: _convex(lambda node, logs, space: atoms.exp(logs[0])),
    atoms.Min: _concave(_reduce(atoms.min)),
    atoms.Minimum: _concave(lambda node, logs, space: atoms.minimum(*logs)),
    atoms.HarmonicMean: _concave(lambda node, logs, space: np.log(node.args[0].size)
                                 - atoms.log_sum_exp(-logs[0])),
    atoms.Log: _concave(lambda node, logs, space: atoms.log(logs[0])),
}


# ------------------------------------------------------------------------------------------------
# analysis
# ------------------------------------------------------------------------------------------------


def _arguments(node: Expression) -> tuple[Expression, ...]:
    """The arguments whose logs a node takes (all of them but a parameter exponent)."""
    rule = RULES.get(type(node))
    return node.args if rule is None else rule.arguments(node)  # type: ignore[arg-type]


def _children_first(expr: Expression) -> list[Expression]:
    """The distinct nodes of ``expr`` reached through log-log arguments, each after its arguments."""
    return children_first(expr, _arguments)


def _leaf_curvature(leaf: Expression) -> Curvature:
    if isinstance(leaf, Variable):
        return Curvature.AFFINE if leaf.pos else Curvature.UNKNOWN
    if isinstance(leaf, Parameter):
        return Curvature.CONSTANT if leaf.pos else Curvature.UNKNOWN
    return Curvature.CONSTANT if np.all(leaf.value > 0) else Curvature.UNKNOWN  # type: ignore[attr-defined]


class LogLog:
    """Log-log curvatures of the nodes of some expressions, each computed once."""

    def __init__(self) -> None:
        self._found: dict[int, Curvature] = {}

    def __call__(self, expr: Expression) -> Curvature:
        """The log-log curvature of ``expr`` (``UNKNOWN``: not log-log convex nor concave)."""
        for node in _children_first(expr):
            if id(node) not in self._found:
                self._found[id(node)] = self._node(node)
        return self._found[id(expr)]

    def _node(self, node: Expression) -> Curvature:
        if not node.args:
            return _leaf_curvature(node)
        rule = RULES.get(type(node))
        if rule is None or not (rule.convex(node) or rule.concave(node)):  # type: ignore[arg-type]
            return Curvature.UNKNOWN
        parts = rule.arguments(node)  # type: ignore[arg-type]
        arguments = [(rule.monotonicity(node, i), self._found[id(a)]) for i, a in enumerate(parts)]  # type: ignore
        return compose(rule.convex(node), rule.concave(node), arguments)  # type: ignore[arg-type]

    def violations(self, expr: Expression, needed: str, place: str) -> list[str]:
        """Messages for ``expr`` not being log-log ``needed`` ("convex", "concave", "affine") in ``place``."""
        curvature = self(expr)
        if curvature is Curvature.UNKNOWN:
            return [self._explain(node) for node in self._culprits(expr)]
        has = {"convex": curvature.is_convex, "concave": curvature.is_concave, "affine": curvature.is_affine}[needed]
        return [] if has else [f"{place} must be log-log {needed}, but {expr} is log-log {curvature}"]

    def _culprits(self, expr: Expression) -> list[Expression]:
        """Innermost nodes of unknown log-log curvature whose log-log arguments all have a known one."""
        nodes = _children_first(expr)
        unknown = {id(node) for node in nodes if self._found[id(node)] is Curvature.UNKNOWN}
        return [node for node in nodes if id(node) in unknown and not any(id(a) in unknown for a in _arguments(node))]

    def _explain(self, node: Expression) -> str:
        if isinstance(node, (Variable, Parameter)):
            where = "" if isinstance(node, Variable) else " (outside an exponent)"
            return (f"{node}: {node.kind} {node.name!r} is not declared pos=True; a geometric program takes the "
                    f"log of its {node.kind}s{where}")
        if isinstance(node, Constant):
            return f"{node}: the constant is not positive; a geometric program takes the log of its constants"
        rule = RULES.get(type(node))
        name = getattr(node, "name", type(node).__name__)
        if rule is None or not (rule.convex(node) or rule.concave(node)):  # type: ignore[arg-type]
            what = "subtraction and negation are" if isinstance(node, affine.Negation) else f"{name} is"
            return (f"{node}: {what} not log-log convex or concave (a geometric program takes products, quotients, "
                    "powers, sums, max, min and the other atoms of the DGP table)")
        return f"{node}: {self._composition(node, rule, rule.arguments(node))}"  # type: ignore[arg-type]

    def _composition(self, node: Atom, rule: Rule, parts: tuple[Expression, ...]) -> str:
        """Which argument breaks the composition rule, and why."""
        convex, concave = rule.convex(node), rule.concave(node)
        kind = "log-log affine" if convex and concave else "log-log convex" if convex else "log-log concave"
        for index, arg in enumerate(parts):
            monotonicity, curvature = rule.monotonicity(node, index), self._found[id(arg)]
            wanted = {INCREASING: "convex" if convex else "concave",
                      DECREASING: "concave" if convex else "convex"}.get(monotonicity, "affine")
            if convex and concave and monotonicity is not NOT_MONOTONE:
                continue  # an affine atom takes either curvature where it is monotone: a mix is the fault
            if not {"convex": curvature.is_convex, "concave": curvature.is_concave,
                    "affine": curvature.is_affine}[wanted]:
                how = "not monotone" if monotonicity is NOT_MONOTONE else monotonicity.value
                return (f"{kind} atom {node.name} applied to the log-log {curvature} argument {arg} "
                        f"({node.name} is {how} in it, so it must be log-log {wanted})")
        flipped = [(a, self._found[id(a)].negate() if rule.monotonicity(node, i) is DECREASING else self._found[id(a)])
                   for i, a in enumerate(parts)]
        first = next(a for a, c in flipped if c is Curvature.CONVEX)
        other = next(a for a, c in flipped if c is Curvature.CONCAVE)
        return (f"{node.name} combines the log-log convex term {first} with the log-log concave term {other}, so "
                "the result is neither")


def constraint_violations(constraint: Constraint, loglog: LogLog) -> list[str]:
    """Why ``constraint`` does not belong to a geometric program (empty when it does)."""
    if isinstance(constraint, Inequality):
        place = f"{constraint.body()}: the smaller side of <="
        return (loglog.violations(constraint.lhs, "convex", place)
                + loglog.violations(constraint.rhs, "concave", f"{constraint.body()}: the larger side of <="))
    if isinstance(constraint, Equality):
        place = f"{constraint.body()}: each side of =="
        return [m for side in constraint.args for m in loglog.violations(side, "affine", place)]
    kind = type(constraint).__name__
    return [f"{constraint.body()}: a {kind} constraint has no place in a geometric program (only <= and ==)"]


def problem_violations(problem: Problem) -> list[str]:
    """Every broken DGP rule of ``problem``, as ``"objective: ..."`` / ``"constraint <name>: ..."`` messages."""
    loglog = LogLog()
    objective = problem.objective
    messages = [f"objective: {m}" for m in loglog.violations(objective.expr, objective.needed,
                                                            f"{objective}: the objective of {objective.sense}")]
    for name, constraint in problem.named_constraints().items():
        messages += [f"constraint {name}: {m}" for m in constraint_violations(constraint, loglog)]
    return messages


# ------------------------------------------------------------------------------------------------
# the change of variables
# ------------------------------------------------------------------------------------------------


class LogSpace:
    """A DGP problem written over ``u = log x``: the convex ``problem`` and how its parameters come about.

    Each variable keeps its name (its value is ``log x``). A parameter whose log enters gets a
    parameter of its own (``logged``: original name -> name in ``problem``); a parameter in an
    exponent enters as it is, under its own name (``raw_names``).
    """

    def __init__(self, taken: set[str]):
        self.problem: Problem | None = None
        self.logged: dict[str, str] = {}
        self.raw_names: list[str] = []
        self._taken = set(taken)
        self._logs: dict[int, Expression] = {}
        self._raw: dict[int, Parameter] = {}

    def raw(self, parameter: Parameter) -> Parameter:
        """The parameter of the log-space problem that stands for ``parameter`` itself (an exponent)."""
        if id(parameter) not in self._raw:
            self._raw[id(parameter)] = Parameter(parameter.shape, name=parameter.name, nonneg=parameter.nonneg,
                                                 nonpos=parameter.nonpos)
            self.raw_names.append(parameter.name)
        return self._raw[id(parameter)]

    def _leaf(self, leaf: Expression) -> Expression:
        if isinstance(leaf, Variable):
            return Variable(leaf.shape, name=leaf.name)
        if isinstance(leaf, Parameter):
            name, k = f"log_{leaf.name}", 1
            while name in self._taken:
                k += 1
                name = f"log_{leaf.name}_{k}"
            self._taken.add(name)
            self.logged[leaf.name] = name
            return Parameter(leaf.shape, name=name)
        return Constant(np.log(leaf.value))  # type: ignore[attr-defined]

    def log(self, expr: Expression) -> Expression:
        """The log of ``expr`` (a log-log convex or concave expression) over the log-space leaves."""
        for node in _children_first(expr):
            if id(node) not in self._logs:
                if node.args:
                    rule = RULES[type(node)]
                    logs = [self._logs[id(a)] for a in rule.arguments(node)]  # type: ignore[arg-type]
                    self._logs[id(node)] = rule.lower(node, logs, self)  # type: ignore[arg-type]
                else:
                    self._logs[id(node)] = self._leaf(node)
        return self._logs[id(expr)]


def log_space(problem: Problem) -> LogSpace:
    """``problem`` (DGP) over ``u = log x``: ``log`` of the objective; ``log lhs <= log rhs``, ``log lhs == log rhs``.

    Constraint names and order are kept, so the log-space problem's duals are the geometric
    program's (cvxpy's convention); the objective is ``log`` of the original one.
    """
    from optdsl.modeling.problem import Problem

    space = LogSpace({leaf.name for leaf in [*problem.variables(), *problem.parameters()]})
    objective = type(problem.objective)(space.log(problem.objective.expr))
    constraints = []
    for constraint in problem.constraints:
        lhs, rhs = (space.log(side) for side in constraint.args)
        if isinstance(constraint, Inequality):
            constraints.append(Inequality(lhs, rhs, name=constraint.name))
        else:
            constraints.append(Equality(lhs, rhs, name=constraint.name))
    space.problem = Problem(objective, constraints)
    return space
