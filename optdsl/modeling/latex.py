"""``to_latex``: a model rendered as LaTeX through sympy's printer.

Each node becomes a sympy object: scalar variables and parameters are ``Symbol``\\ s, vector
and matrix leaves ``MatrixSymbol``\\ s (vectors as columns), numbers sympy numbers; ``+``,
``-``, scalar ``*``, ``@``, ``/`` and ``**`` are unevaluated sympy ``Add`` / ``Mul`` / ``Pow``
(so sympy's printer chooses fractions, signs and parentheses), and atoms are unevaluated
sympy functions (``Rendered``) printed by a LaTeX template: ``norm1(x)`` is
``\\left\\|x\\right\\|_{1}``, ``sum_squares(r)`` is ``\\left\\|r\\right\\|_{2}^{2}``. Matrix
leaves are wrapped in a ``Rendered`` identity so that sympy's matrix algebra, which does not
broadcast, never rewrites or rejects the numpy-style expressions of a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import sympy
from sympy.core.symbol import Str
from sympy.printing.precedence import PRECEDENCE

from optdsl.modeling.affine import Add, Divide, Index, MatMul, Multiply, Negation, Transpose
from optdsl.modeling.atoms import Power
from optdsl.modeling.constraints import PSD, SOC, Constraint, Equality, ExpCone, Inequality
from optdsl.modeling.expression import Expression
from optdsl.modeling.leaves import Constant, Parameter, Variable
from optdsl.modeling.printing import SMALL_VECTOR, format_number
from optdsl.modeling.problem import Problem

# How a template binds, as a sympy precedence: delimited (its arguments need no parentheses,
# as in \|x\|_1), a product (\sum x, x \circ y: arguments parenthesised below multiplication),
# or a postfix (x^T, x_{0}: arguments parenthesised unless they are names).
DELIMITED = 0
PRODUCT = PRECEDENCE["Mul"]
POSTFIX = PRECEDENCE["Pow"]


class Rendered(sympy.Function):
    """An unevaluated sympy function printed by a template: ``Rendered(Str(template), parens, *args)``.

    The template is a ``str.format`` pattern over the printed arguments (``{0}``, ``{1}``,
    and ``{args}`` for all of them, comma-separated); ``parens`` is the sympy precedence
    below which an argument is parenthesised (0: never).
    """

    def _latex(self, printer: Any, exp: str | None = None) -> str:
        template, parens, *args = self.args
        text = template.name.format(*(self._argument(printer, a, int(parens)) for a in args),
                                    args=", ".join(printer._print(a) for a in args))
        if exp is None:
            return text
        return f"{text}^{{{exp}}}" if self.is_leaf() else rf"\left({text}\right)^{{{exp}}}"

    @property
    def precedence(self) -> int:
        """How tightly the printed template binds (read by sympy's printer to place parentheses)."""
        return int(self.args[1]) or PRECEDENCE["Atom"]

    def is_leaf(self) -> bool:
        """Whether this only wraps a leaf (a matrix symbol or a constant matrix)."""
        return self.args[0].name == "{0}"

    @staticmethod
    def _argument(printer: Any, arg: Any, parens: int) -> str:
        if parens == POSTFIX and isinstance(arg, Rendered) and not arg.is_leaf():
            return rf"\left({printer._print(arg)}\right)"  # a sub- or superscript must not stack on another
        return printer.parenthesize(arg, parens) if parens else printer._print(arg)


def rendered(template: str, args: Sequence[Any], parens: int = DELIMITED) -> Rendered:
    """``Rendered`` of ``template`` over ``args`` (see the class)."""
    return Rendered(Str(template), sympy.Integer(parens), *args)


def _text(words: str) -> str:
    return r"\text{" + words.replace("_", r"\_") + "}"


def _settings(node: Expression) -> str:
    """Static settings of an atom (``axis=1``), as a LaTeX suffix for inside a subscript or argument list."""
    data = node.format_data() if hasattr(node, "format_data") else []
    return "".join(r",\ " + _text(d) for d in data if d.startswith(("axis", "keepdims")))


def _literal(text: str) -> str:
    """``text`` escaped for use inside a ``str.format`` template."""
    return text.replace("{", "{{").replace("}", "}}")


def _escaped(node: Expression, template: str) -> str:
    return template.replace("{settings}", _literal(_settings(node)))


# Atom name -> (template, parens); {settings} is replaced by the atom's axis settings.
_ATOMS: dict[str, tuple[str, int]] = {
    "abs": (r"\left|{0}\right|", DELIMITED),
    "norm1": (r"\left\|{0}\right\|_{{1{settings}}}", DELIMITED),
    "norm2": (r"\left\|{0}\right\|_{{2{settings}}}", DELIMITED),
    "norm_inf": (r"\left\|{0}\right\|_{{\infty{settings}}}", DELIMITED),
    "sum_squares": (r"\left\|{0}\right\|_{{2}}^{{2}}", DELIMITED),
    "square": (r"{0}^{{2}}", POSTFIX),
    "sqrt": (r"\sqrt{{{0}}}", DELIMITED),
    "exp": (r"e^{{{0}}}", DELIMITED),
    "log": (r"\log\left({0}\right)", DELIMITED),
    "inv_pos": (r"\frac{{1}}{{{0}}}", DELIMITED),
    "pos": (r"\left({0}\right)_{{+}}", DELIMITED),
    "neg": (r"\left({0}\right)_{{-}}", DELIMITED),
    "max": (r"\max\left({0}{settings}\right)", DELIMITED),
    "min": (r"\min\left({0}{settings}\right)", DELIMITED),
    "maximum": (r"\max\left({args}\right)", DELIMITED),
    "minimum": (r"\min\left({args}\right)", DELIMITED),
    "trace": (r"\operatorname{{tr}}\left({0}\right)", DELIMITED),
    "diag": (r"\operatorname{{diag}}\left({0}\right)", DELIMITED),
    "quad_form": (r"{0}^{{T}} {1} {0}", POSTFIX),
    "quad_over_lin": (r"\frac{{\left\|{0}\right\|_{{2}}^{{2}}}}{{{1}}}", DELIMITED),
    "matrix_frac": (r"{0}^{{T}} {1}^{{-1}} {0}", POSTFIX),
    "lambda_max": (r"\lambda_{{\max}}\left({0}\right)", DELIMITED),
    "log_det": (r"\log\det\left({0}\right)", DELIMITED),
    "sigmoid": (r"\sigma\left({0}\right)", DELIMITED),
    "sin": (r"\sin\left({0}\right)", DELIMITED),
    "cos": (r"\cos\left({0}\right)", DELIMITED),
    "tanh": (r"\tanh\left({0}\right)", DELIMITED),
    "hstack": (r"\begin{{bmatrix}} {cells} \end{{bmatrix}}", DELIMITED),
    "vstack": (r"\begin{{bmatrix}} {rows} \end{{bmatrix}}", DELIMITED),
}


class _Converter:
    """Modeling nodes to sympy objects (shared sub-expressions are converted once)."""

    def __init__(self) -> None:
        self.memo: dict[int, Any] = {}
        self.constants = 0

    def __call__(self, node: Expression) -> Any:
        if id(node) not in self.memo:
            self.memo[id(node)] = self._convert(node)
        return self.memo[id(node)]

    def _leaf(self, name: str, shape: tuple[int, ...]) -> Any:
        if shape == ():
            return sympy.Symbol(name)
        rows, cols = (shape[0], 1) if len(shape) == 1 else shape
        return rendered("{0}", [sympy.MatrixSymbol(name, rows, cols)])

    def _constant(self, node: Constant) -> Any:
        value = node.value
        if value.ndim == 0:
            number = float(value)
            return sympy.Integer(int(number)) if number.is_integer() else sympy.Float(number)
        if value.size <= SMALL_VECTOR and np.isfinite(value).all():
            entries = [[sympy.Float(v) if not float(v).is_integer() else sympy.Integer(int(v)) for v in row]
                       for row in np.atleast_2d(value.T).T]
            return rendered("{0}", [sympy.ImmutableMatrix(entries)])
        self.constants += 1
        return self._leaf(f"C_{self.constants}", value.shape)

    def _convert(self, node: Expression) -> Any:
        if isinstance(node, (Variable, Parameter)):
            return self._leaf(node.name, node.shape)
        if isinstance(node, Constant):
            return self._constant(node)
        args = [self(a) for a in node.args]
        if isinstance(node, Add):
            return sympy.Add(*args, evaluate=False)
        if isinstance(node, Negation):
            return sympy.Mul(sympy.Integer(-1), args[0], evaluate=False)
        if isinstance(node, MatMul) and node.args[0].ndim == 1:
            return sympy.Mul(rendered("{0}^{{T}}", args[:1], POSTFIX), args[1], evaluate=False)
        if isinstance(node, MatMul) or (isinstance(node, Multiply) and min(a.ndim for a in node.args) == 0):
            return sympy.Mul(*args, evaluate=False)
        if isinstance(node, Multiply):
            return rendered(r"{0} \circ {1}", args, PRODUCT)
        if isinstance(node, Divide):
            reciprocal = sympy.Pow(args[1], -1, evaluate=False)
            return reciprocal if args[0] == 1 else sympy.Mul(args[0], reciprocal, evaluate=False)
        if isinstance(node, Power):
            return sympy.Pow(args[0], sympy.sympify(format_number(node.p)), evaluate=False)
        if isinstance(node, Transpose):
            return rendered("{0}^{{T}}", args, POSTFIX)
        if isinstance(node, Index):
            return rendered("{0}_{{" + _key_text(node.key) + "}}", args, POSTFIX)
        return self._atom(node, args)

    def _atom(self, node: Expression, args: list[Any]) -> Any:
        name = getattr(node, "name", type(node).__name__)
        if name == "pnorm":
            return rendered(_escaped(node, r"\left\|{0}\right\|_{{" + format_number(node.p) + "{settings}}}"), args)
        if name == "huber":
            return rendered(r"\operatorname{{huber}}_{{" + format_number(node.M) + r"}}\left({0}\right)", args)
        if name == "sum":
            axis = "" if node.axis is None else "_{{" + _literal(_text(f"axis {node.axis}")) + "}}"
            return rendered(r"\sum" + axis + " {0}", args, PRODUCT)
        if name in ("hstack", "vstack"):
            cells = (" & " if name == "hstack" else r" \\ ").join("{%d}" % i for i in range(len(args)))
            return rendered(_ATOMS[name][0].replace("{cells}", cells).replace("{rows}", cells), args)
        if name in _ATOMS:
            template, parens = _ATOMS[name]
            return rendered(_escaped(node, template), args, parens)
        settings = "".join(r",\ " + _text(d) for d in node.format_data()) if hasattr(node, "format_data") else ""
        operator = r"\operatorname{" + name.replace("_", r"\_") + "}"
        return rendered(_literal(operator) + r"\left({args}" + _literal(settings) + r"\right)", args)


def _key_text(key: tuple) -> str:
    items = []
    for item in key:
        if isinstance(item, slice):
            text = ":".join("" if v is None else str(v) for v in (item.start, item.stop))
            items.append(text if item.step is None else f"{text}:{item.step}")
        elif isinstance(item, np.ndarray):
            items.append(str(item.tolist()).replace(" ", ""))
        else:
            items.append(str(item))
    return _literal(", ".join(items))


def _constraint(constraint: Constraint, convert: _Converter) -> str:
    args = [convert(a) for a in constraint.args]
    if isinstance(constraint, Equality):
        body = sympy.Eq(*args, evaluate=False)
    elif isinstance(constraint, Inequality):
        geq = constraint.body() == f"{constraint.rhs} >= {constraint.lhs}"
        body = sympy.Ge(args[1], args[0], evaluate=False) if geq else sympy.Le(*args, evaluate=False)
    elif isinstance(constraint, PSD):
        body = rendered(r"{0} \succeq 0", args)
    elif isinstance(constraint, SOC):
        each = "column" if constraint.axis == 0 else "row"
        per = "" if constraint.axis is None else r"\ \text{(each " + each + ")}"
        body = rendered(r"\left\|{1}\right\|_{{2}} \leq {0}" + _literal(per), args)
    elif isinstance(constraint, ExpCone):
        body = rendered(r"\left({0}, {1}, {2}\right) \in K_{{\exp}}", args)
    else:
        body = rendered(_literal(r"\operatorname{" + constraint.kind + "}") + r"\left({args}\right)", args)
    text = sympy.latex(body, order="none")
    return text if constraint.name is None else rf"{text} \quad {_text('(' + constraint.name + ')')}"


def to_latex(problem: Problem) -> str:
    """The model as a LaTeX ``array``: objective, then one constraint a row.

    >>> import optdsl.modeling as om
    >>> x = om.Variable(3, name="x")
    >>> print(to_latex(om.Problem(om.Minimize(om.norm1(x)), [om.sum(x) == 1])))
    \\begin{array}{ll}
    \\text{minimize} & \\left\\|x\\right\\|_{1} \\\\
    \\text{subject to} & \\sum x = 1
    \\end{array}
    """
    convert = _Converter()
    rows = [rf"\text{{{problem.objective.sense}}} & {sympy.latex(convert(problem.objective.expr), order='none')}"]
    for position, constraint in enumerate(problem.constraints):
        label = r"\text{subject to}" if position == 0 else ""
        rows.append(f"{label} & {_constraint(constraint, convert)}")
    return "\\begin{array}{ll}\n" + " \\\\\n".join(rows) + "\n\\end{array}"


def expression_latex(expr: Expression) -> str:
    """One expression as LaTeX (the same rendering as :func:`to_latex`).

    >>> import optdsl.modeling as om
    >>> expression_latex(om.norm1(om.Variable(3, name="x")))
    '\\\\left\\\\|x\\\\right\\\\|_{1}'
    """
    return sympy.latex(_Converter()(expr), order="none")


def constraint_latex(constraint: Constraint) -> str:
    """One constraint as LaTeX (the same rendering as :func:`to_latex`)."""
    return _constraint(constraint, _Converter())
