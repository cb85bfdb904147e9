"""``to_opt``: any ``Problem`` written as ``.opt`` text that parses back to an equal problem.

Expressions and constraints print in the ``.opt`` syntax already (``str``); this module adds
the declarations (params and vars with literal sizes and declared signs) and deals with
constants the expression printer cannot write exactly: arrays that are not short vectors
(printed ``const(4x3)``), non-finite numbers, and numbers whose shortest text does not read
back to the same float (float32 data). Each such constant is *lifted* into a ``param``
with a generated name (``const1``, ``const2``, ...; declared ``>= 0`` / ``<= 0`` when its
entries have one sign) and its value is returned as data by ``to_opt(with_data=True)``.
Without lifted constants, ``parse(to_opt(p)) == p``; with them, ``parse`` gives the problem
with those constants as params.
"""

from __future__ import annotations

import copy
import itertools
import re
import numpy as np

from optdsl.grammar.syntax import keywords
from optdsl.modeling.atom import Atom
from optdsl.modeling.constraints import Constraint
from optdsl.modeling.curvature import Sign
from optdsl.modeling.errors import ModelingError
from optdsl.modeling.expression import Expression
from optdsl.modeling.leaves import Constant, Parameter, Variable
from optdsl.modeling.printing import format_array, format_number
from optdsl.modeling.problem import Problem

_NAME = re.compile(r"[^\W\d]\w*")


def writes_exactly(constant: Constant) -> bool:
    """Whether the printed text of ``constant`` is a literal that parses back to the same value."""
    value = constant.value
    if format_array(value).startswith("const("):
        return False
    return all(np.isfinite(v) and float(format_number(v)) == float(v) for v in value.ravel())


def _check_name(name: str, what: str) -> None:
    if not _NAME.fullmatch(name) or name in keywords():
        why = "is a reserved word of .opt" if name in keywords() else "is not a .opt name"
        raise ModelingError(f"to_opt: the {what} named {name!r} cannot be written: {name!r} {why}")


def _declaration(leaf: Parameter | Variable) -> str:
    param = isinstance(leaf, Parameter)
    kind = "param" if param else "var"
    shape = f"[{', '.join(map(str, leaf.shape))}]" if leaf.shape else ""
    sign = " pos" if leaf.pos else " >= 0" if leaf.nonneg else " <= 0" if leaf.nonpos else ""
    definite = " >> 0" if param and leaf.psd else " << 0" if param and leaf.nsd else ""
    return f"{kind} {leaf.name}{shape}{sign}{definite}"


class _Lifter:
    """Replaces the constants that cannot be written exactly by params, copying the nodes above them."""

    def __init__(self, taken: set[str]):
        self.names = (f"const{i}" for i in itertools.count(1) if f"const{i}" not in taken)
        self.params: dict[int, tuple[Parameter, np.ndarray]] = {}
        self.copies: dict[int, Expression] = {}

    def expression(self, node: Expression) -> Expression:
        if id(node) in self.copies:
            return self.copies[id(node)]
        if isinstance(node, Constant):
            result = node if writes_exactly(node) else self._param(node)
        elif isinstance(node, Atom):
            args = tuple(self.expression(a) for a in node.args)
            result = node if all(a is b for a, b in zip(args, node.args)) else _with_args(node, args)
        else:
            result = node
        self.copies[id(node)] = result
        return result

    def constraint(self, constraint: Constraint) -> Constraint:
        args = tuple(self.expression(a) for a in constraint.args)
        if all(a is b for a, b in zip(args, constraint.args)):
            return constraint
        clone = copy.copy(constraint)
        clone._args = args
        return clone

    def _param(self, constant: Constant) -> Parameter:
        sign = constant.sign
        param = Parameter(constant.shape, name=next(self.names), nonneg=sign.is_nonneg, nonpos=sign is Sign.NONPOS)
        self.params[id(param)] = (param, np.array(constant.value))
        return param


def _with_args(node: Atom, args: tuple[Expression, ...]) -> Atom:
    """A copy of ``node`` over new arguments of the same shapes (cached analysis results are dropped)."""
    clone = copy.copy(node)
    clone._args = args
    clone._curvature = clone._sign = clone._key = None
    return clone


def to_opt(problem: Problem, with_data: bool = False) -> str | tuple[str, dict[str, np.ndarray]]:
    """``problem`` as ``.opt`` text; with ``with_data=True``, also the values of lifted constants.

    >>> import numpy as np
    >>> import optdsl.modeling as om
    >>> x = om.Variable(3, name="x", nonneg=True)
    >>> C = np.arange(12.0).reshape(4, 3)
    >>> text, data = to_opt(om.Problem(om.Minimize(om.sum_squares(C @ x - 1))), with_data=True)
    >>> print(text)
    param const1[4, 3] >= 0
    var x[3] >= 0
    minimize sum_squares(const1 @ x - 1)
    <BLANKLINE>
    >>> data["const1"].shape
    (4, 3)
    """
    leaves = [*problem.parameters(), *problem.variables()]
    for leaf in leaves:
        _check_name(leaf.name, leaf.kind)
    for name, constraint in problem.named_constraints().items():
        if constraint.name is not None:
            _check_name(name, "constraint")
    lifter = _Lifter({leaf.name for leaf in leaves})
    objective = type(problem.objective)(lifter.expression(problem.objective.expr))
    constraints = [lifter.constraint(c) for c in problem.constraints]
    lifted = [param for param, _ in lifter.params.values()]
    declarations = [
        *map(_declaration, problem.parameters()),
        *map(_declaration, lifted),
        *map(_declaration, problem.variables()),
    ]
    text = "\n".join([*declarations, str(Problem(objective, constraints))]) + "\n"
    if not with_data:
        return text
    return text, {param.name: value for param, value in lifter.params.values()}
