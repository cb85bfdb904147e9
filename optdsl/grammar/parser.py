"""``parse`` and ``load``: ``.opt`` text to a ``Problem``, through one lark ``Transformer``.

``ModelBuilder`` is the only code that turns parse trees into modeling objects. Its
methods are named after the grammar rules in ``opt.lark`` and are called bottom-up, in
file order, so names must be declared before they are used. Values are built with the
same operators and functions the Python front end uses (calls go through the explicit
table in ``functions.py``); nothing is ever evaluated as Python code.

Every error is located: a modeling error raised while a node is built is re-raised as the
located error of the same kind (``LocatedShapeError`` is a ``ShapeError``), pointing at the
operator, the called name, the subscript or the declaration that built it. An expression
nested deeper than ``MAX_NESTING`` (through operators or ``let`` names) is an ``OptLimitError``
where it is built, as are whole numbers too large for a size or an index.
"""

from __future__ import annotations

import difflib
import math
import operator
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from lark import Token, Transformer_NonRecursive, v_args
from lark.exceptions import VisitError

import optdsl.modeling as om
from optdsl.errors import ArgumentTypeError
from optdsl.grammar.dims import bind_dims, literal_size
from optdsl.grammar.errors import (
    LocatedModelingError,
    Location,
    OptLimitError,
    OptNameError,
    OptSyntaxError,
    Source,
    decode_utf8,
    located,
)
from optdsl.grammar.functions import CONES, FUNCTIONS, Function, Kind, Param
from optdsl.grammar.literals import MAX_INDEX, whole_number
from optdsl.grammar.parsed import ParsedProblem
from optdsl.grammar.syntax import MAX_NESTING, keywords, parse_tree
from optdsl.modeling.affine.add import add
from optdsl.modeling.constraints import psd_difference
from optdsl.modeling.errors import ModelingError
from optdsl.modeling.shapes import broadcast_shapes

_OPERATORS: dict[str, Callable[..., Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "@": operator.matmul,
    "**": operator.pow,
}
_UNARY: dict[str, Callable[[Any], Any]] = {"-": operator.neg, "+": operator.pos}
_COMPARISONS: dict[str, Callable[[Any, Any], om.Constraint]] = {
    "==": om.Equality,
    "<=": om.Inequality,
    ">=": lambda a, b: om.Inequality(b, a, written_as_geq=True),
    ">>": psd_difference,
    "<<": lambda a, b: psd_difference(b, a),
}
#: A declaration ``name <cmp> 0``: the attribute it sets (``>> 0`` / ``<< 0`` on params only).
_DECLARED_BY = {">=": "nonneg", "<=": "nonpos", ">>": "psd", "<<": "nsd"}


@dataclass(frozen=True)
class Symbol:
    """A declared name: its kind (dim, param, var, let), its value, and where it was declared (None: given)."""

    kind: str
    value: Any
    token: Token | None


@dataclass(frozen=True)
class Value:
    """A value in the text that is not an expression: a list, a tuple, a string, True or False."""

    what: str
    items: Any
    location: Location


@dataclass(frozen=True)
class Argument:
    """One argument of a call: keyword (None when positional), value and place."""

    keyword: str | None
    value: Any
    location: Location


@dataclass(frozen=True)
class Number:
    """A signed number literal where only numbers may stand (sizes, subscripts, sign bounds)."""

    text: str
    location: Location

    def as_int(self, what: str) -> int:
        """The number as an int of at most 64 bits (see ``whole_number``)."""
        return whole_number(self.text, what, MAX_INDEX, self.location)


def _describe(value: Any) -> str:
    if isinstance(value, Value):
        return value.what
    if isinstance(value, om.Constant):
        return f"the constant {value}"
    return f"the expression {value}"


def _unsized(token: Token) -> str:
    """The message for a dim used without a size, saying the two ways to give one."""
    return f"dim {token} has no size: give it as {token}=... to parse/load or --dim {token}=... on the command line"


class ModelBuilder(Transformer_NonRecursive):
    """Builds a ``ParsedProblem`` from the parse tree of a ``.opt`` text (see the module docstring)."""

    __visit_tokens__ = False  # tokens reach the rule methods as they are

    def __init__(self, source: Source, sizes: Mapping[str, int]):
        super().__init__()
        self.source = source
        self.sizes = dict(sizes)
        self.symbols: dict[str, Symbol] = {}
        self.bounds: list[tuple[om.Constraint, Location]] = []
        self.built: dict[int, tuple[Any, Location]] = {}
        self.depths: dict[int, int] = {}

    # ---- helpers -----------------------------------------------------------------------------
    def _at(self, where: Token | Any) -> Location:
        """Where a token, or a rule (its ``meta``), starts."""
        return self.source.at(where.line, where.column)

    def _build(self, location: Location, build: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``build(*args, **kwargs)``, with modeling errors located; remembers where each node was built.

        An expression nested deeper than ``MAX_NESTING`` is an ``OptLimitError`` here.
        """
        try:
            result = build(*args, **kwargs)
        except ModelingError as error:
            raise located(error, location) from None
        self.built.setdefault(id(result), (result, location))
        depth = self._depth(result) if isinstance(result, om.Expression) else 0
        if depth > MAX_NESTING:
            raise OptLimitError(
                f"this expression nests {depth} deep, more than {MAX_NESTING} "
                f"(counting operators, calls and the let names it uses)",
                location,
            )
        return result

    def _depth(self, node: om.Expression) -> int:
        """How deep ``node`` nests (a leaf is 0), walking only nodes not measured before (no recursion)."""
        stack = [node]
        while stack:
            top = stack[-1]
            pending = [arg for arg in top.args if id(arg) not in self.depths]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            self.depths[id(top)] = max((1 + self.depths[id(arg)] for arg in top.args), default=0)
        return self.depths[id(node)]

    def _expression(self, value: Any) -> om.Expression:
        """``value`` as an expression: a list of numbers is a constant vector; other values are errors."""
        if isinstance(value, om.Expression):
            return value
        if value.what == "a list":
            items = [self._expression(item) for item in value.items]
            if all(isinstance(item, om.Constant) and item.shape == () for item in items):
                return self._build(value.location, om.Constant, np.array([item.value for item in items], dtype=float))
            raise OptSyntaxError(
                "a list stands for a constant vector and may hold only numbers, such as [1, -2, 0.5]; "
                "lists of expressions are arguments of hstack, vstack and concatenate",
                value.location,
            )
        raise OptSyntaxError(f"expected an expression here, got {value.what}", value.location)

    def _declare(self, token: Token, kind: str, value: Any) -> None:
        name = str(token)
        if name in keywords():
            raise OptNameError(f"{name} is a reserved word and cannot name a {kind}", self._at(token))
        previous = self.symbols.get(name)
        if previous is not None:
            raise OptNameError(
                f"{name} is already declared (as a {previous.kind} on line {previous.token.line})", self._at(token)
            )
        self.symbols[name] = Symbol(kind, value, token)

    def _unknown(self, token: Token, what: str, candidates: list[str]) -> OptNameError:
        close = difflib.get_close_matches(str(token), candidates, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        return OptNameError(f"unknown {what} {token}{hint}", self._at(token))

    def _convert(self, name: str, param: Param, argument: Argument) -> Any:
        value, kind = argument.value, param.kind
        if kind is Kind.EXPRESSION:
            return self._expression(value)
        if kind is Kind.EXPRESSION_LIST and isinstance(value, Value) and value.what == "a list":
            return [self._expression(item) for item in value.items]
        if kind is Kind.EXPRESSION_GRID and isinstance(value, Value) and value.what == "a list" and all(
                isinstance(row, Value) and row.what == "a list" for row in value.items):
            return [[self._expression(item) for item in row.items] for row in value.items]
        if kind is Kind.BOOLEAN and isinstance(value, Value) and isinstance(value.items, bool):
            return value.items
        if kind in (Kind.STRING, Kind.NUMBER_OR_STRING) and isinstance(value, Value) and value.what == "a string":
            return value.items
        if kind is Kind.SHAPE and isinstance(value, Value) and value.what == "a tuple":
            return tuple(self._integer(name, param, item, argument.location) for item in value.items)
        if kind in (Kind.INTEGER, Kind.SHAPE):
            return self._integer(name, param, value, argument.location)
        if kind in (Kind.NUMBER, Kind.NUMBER_OR_STRING) and isinstance(value, om.Constant) and value.shape == ():
            return float(value.value)
        raise LocatedModelingError(
            f"{name}: {param.name} must be {kind.value}, got {_describe(value)}", argument.location
        )

    def _integer(self, name: str, param: Param, value: Any, location: Location) -> int:
        if isinstance(value, om.Constant) and value.shape == () and float(value.value).is_integer():
            return int(value.value)
        raise LocatedModelingError(f"{name}: {param.name} must be {param.kind.value}, got {_describe(value)}", location)

    def _call(self, token: Token, function: Function, arguments: list[Argument] | None) -> Any:
        name, arguments = str(token), arguments or []
        if function.variadic:
            keyword = next((a for a in arguments if a.keyword is not None), None)
            if keyword is not None:
                raise OptNameError(f"{name} takes no keyword arguments, got {keyword.keyword}=", keyword.location)
            return self._build(self._at(token), function.build, *(self._expression(a.value) for a in arguments))
        given: dict[str, Any] = {}
        for position, argument in enumerate(arguments):
            if argument.keyword is None:
                if any(a.keyword is not None for a in arguments[:position]):
                    raise OptSyntaxError("a positional argument cannot follow a keyword argument", argument.location)
                if position >= len(function.params):
                    raise LocatedModelingError(
                        f"{function.signature(name)} takes at most {len(function.params)} arguments, "
                        f"got {len(arguments)}",
                        argument.location,
                    )
                param = function.params[position]
            else:
                param = next((p for p in function.params if p.name == argument.keyword), None)
                if param is None:
                    known = ", ".join(p.name for p in function.params)
                    raise OptNameError(
                        f"{name} has no argument named {argument.keyword} (its arguments: {known})", argument.location
                    )
                if param.name in given:
                    raise LocatedModelingError(f"{name}: argument {param.name} is given twice", argument.location)
            given[param.name] = self._convert(name, param, argument)
        missing = [p.name for p in function.params if p.required and p.name not in given]
        if missing:
            raise LocatedModelingError(
                f"{function.signature(name)}: missing argument {', '.join(missing)}", self._at(token)
            )
        return self._build(self._at(token), function.build, **given)

    # ---- statements --------------------------------------------------------------------------
    @v_args(inline=True)
    def start(self, *statements: Any) -> ParsedProblem:
        objective, objective_at = next(s for s in statements if isinstance(s, tuple))
        constraints = statements[-1] if isinstance(statements[-1], list) else []
        parts = [*self.bounds, *constraints]
        names: dict[str, Location] = {}
        for position, (constraint, location) in enumerate(parts):
            name = constraint.name_at(position)
            if name in names:
                raise OptNameError(
                    f"two constraints are named {name} (the other is on line {names[name].line}; "
                    f"unnamed constraints are called c0, c1, ... by position)",
                    location,
                )
            names[name] = location
        return ParsedProblem(
            objective,
            [c for c, _ in parts],
            objective_at=objective_at,
            constraint_at=[at for _, at in parts],
            built={key: at for key, (_, at) in self.built.items()},
            dims={name: symbol.value for name, symbol in self.symbols.items()
                  if symbol.kind == "dim" and symbol.value is not None},
        )

    @v_args(inline=True)
    def dim_decl(self, keyword: Token, *names: Token) -> None:
        for token in names:
            self._declare(token, "dim", self.sizes.get(str(token)))

    @v_args(inline=True)
    def shape(self, *sizes: Token) -> tuple[int, ...]:
        dims = []
        for token in sizes:
            if token.type == "NUMBER":
                dims.append(literal_size(token, self.source))
                continue
            symbol = self.symbols.get(str(token))
            if symbol is None or symbol.kind != "dim":
                found = f"a {symbol.kind}, not a dim" if symbol else "not declared"
                raise OptNameError(f"size {token} is {found} (declare it with: dim {token})", self._at(token))
            if symbol.value is None:
                raise OptNameError(f"{_unsized(token)}, or give data for a param declared with it", self._at(token))
            dims.append(symbol.value)
        return tuple(dims)

    @v_args(inline=True)
    def sign_bound(self, comparison: Token, bound: Number) -> str:
        if comparison.value == "==" or float(bound.text) != 0:
            raise OptSyntaxError(
                f"a declared sign is written >= 0, <= 0, nonneg, nonpos or pos (a semidefinite param >> 0 or << 0), "
                f"got {comparison.value} {bound.text}; write other bounds as in [lo, hi] or as constraints",
                self._at(comparison),
            )
        return _DECLARED_BY[comparison.value]

    @v_args(inline=True)
    def sign_word(self, word: Token) -> str:
        return str(word)

    @v_args(inline=True)
    def interval(self, keyword: Token, low: Any, high: Any) -> tuple[om.Expression, om.Expression, Location]:
        return self._expression(low), self._expression(high), self._at(keyword)

    @v_args(inline=True)
    def param_decl(self, keyword: Token, name: Token, shape: tuple[int, ...] | None, *signs: str) -> None:
        flags = dict.fromkeys(signs, True)
        leaf = self._build(self._at(name), om.Parameter, shape or (), name=str(name), **flags)
        self._declare(name, "param", leaf)

    @v_args(inline=True)
    def var_decl(self, keyword: Token, name: Token, shape: tuple[int, ...] | None, bound: Any) -> None:
        if bound in ("psd", "nsd"):
            relation = ">>" if bound == "psd" else "<<"
            raise OptSyntaxError(f"a var cannot be declared {bound}; write the constraint {name} {relation} 0",
                                 self._at(name))
        flags = {bound: True} if isinstance(bound, str) else {}
        leaf = self._build(self._at(name), om.Variable, shape or (), name=str(name), **flags)
        self._declare(name, "var", leaf)
        if isinstance(bound, tuple):
            low, high, at = bound
            self.bounds.append((self._build(at, _COMPARISONS[">="], leaf, low), at))
            self.bounds.append((self._build(at, _COMPARISONS["<="], leaf, high), at))

    @v_args(inline=True)
    def let_decl(self, keyword: Token, name: Token, value: Any) -> None:
        self._declare(name, "let", self._expression(value))

    @v_args(inline=True)
    def objective(self, sense: Token, value: Any) -> tuple[om.Objective, Location]:
        build = om.Minimize if sense.value == "minimize" else om.Maximize
        at = self._at(sense)
        return self._build(at, build, self._expression(value)), at

    @v_args(inline=True)
    def constraints(self, subject: Token, to: Token, *items: tuple[om.Constraint, Location]) -> list:
        return list(items)

    @v_args(inline=True, meta=True)
    def comparison(self, meta: Any, label: Token | None, lhs: Any, op: Token, rhs: Any) -> tuple:
        constraint = self._build(self._at(op), _COMPARISONS[op.value], self._expression(lhs), self._expression(rhs))
        return self._labelled(constraint, label), self._at(meta)

    @v_args(inline=True, meta=True)
    def cone(self, meta: Any, label: Token | None, kind: Token, arguments: list[Argument] | None) -> tuple:
        constraint = self._call(kind, CONES[kind.value], arguments)
        return self._labelled(constraint, label), self._at(meta)

    def _labelled(self, constraint: om.Constraint, label: Token | None) -> om.Constraint:
        if label is None:
            return constraint
        if str(label) in keywords():
            raise OptNameError(f"{label} is a reserved word and cannot name a constraint", self._at(label))
        return self._build(self._at(label), constraint.named, str(label))

    # ---- expressions -------------------------------------------------------------------------
    @v_args(inline=True)
    def expression(self, value: Any) -> om.Expression:
        return self._expression(value)

    @v_args(inline=True)
    def sum(self, first: Any, *rest: Any) -> om.Expression:
        """``a + b - c ...`` as one ``add`` of its terms (linear in their number); a shape error at its operator."""
        terms = [self._expression(first)]
        shape = terms[0].shape
        for op, value in zip(rest[::2], rest[1::2]):
            term = self._expression(value)
            if op.value == "-":
                term = self._build(self._at(op), operator.neg, term)
            try:
                shape = broadcast_shapes("add", shape, term.shape)
            except ModelingError as error:
                raise located(error, self._at(op)) from None
            terms.append(term)
        return self._build(self._at(rest[0]), add, *terms)

    @v_args(inline=True)
    def binary(self, a: Any, op: Token, b: Any) -> om.Expression:
        return self._build(self._at(op), _OPERATORS[op.value], self._expression(a), self._expression(b))

    @v_args(inline=True)
    def unary(self, op: Token, a: Any) -> om.Expression:
        return self._build(self._at(op), _UNARY[op.value], self._expression(a))

    @v_args(inline=True)
    def transpose(self, a: Any, mark: Token) -> om.Expression:
        return self._build(self._at(mark), om.transpose, self._expression(a))

    @v_args(inline=True)
    def index(self, a: Any, subscripts: tuple[tuple, Location]) -> om.Expression:
        key, at = subscripts
        return self._build(at, operator.getitem, self._expression(a), key)

    @v_args(inline=True)
    def name(self, token: Token) -> om.Expression:
        symbol = self.symbols.get(str(token))
        if symbol is None:
            if str(token) in FUNCTIONS:
                raise OptNameError(f"{token} is a function: call it, as in {token}(x)", self._at(token))
            raise self._unknown(token, "name", list(self.symbols))
        if symbol.kind != "dim":
            return symbol.value
        if symbol.value is None:
            raise OptNameError(_unsized(token), self._at(token))
        return self._build(self._at(token), om.Constant, float(symbol.value))

    @v_args(inline=True)
    def number(self, token: Token) -> om.Expression:
        value = float(token.value)
        if math.isinf(value):
            raise OptLimitError(f"the number {token.value} is too large for a 64-bit float", self._at(token))
        return self._build(self._at(token), om.Constant, value)

    @v_args(inline=True)
    def string(self, token: Token) -> Value:
        return Value("a string", token.value[1:-1], self._at(token))

    @v_args(inline=True)
    def boolean(self, token: Token) -> Value:
        return Value(token.value, token.value == "True", self._at(token))

    @v_args(inline=True)
    def call(self, token: Token, arguments: list[Argument] | None) -> Any:
        function = FUNCTIONS.get(str(token))
        if function is None:
            symbol = self.symbols.get(str(token))
            if symbol is not None:
                raise OptNameError(f"{token} is a {symbol.kind}, not a function", self._at(token))
            raise self._unknown(token, "function", list(FUNCTIONS))
        return self._call(token, function, arguments)

    @v_args(meta=True)
    def tuple_literal(self, meta: Any, items: list) -> Value:
        return Value("a tuple", tuple(items), self._at(meta))

    @v_args(meta=True)
    def list_literal(self, meta: Any, items: list) -> Value:
        return Value("a list", list(items), self._at(meta))

    def arguments(self, items: list[Argument]) -> list[Argument]:
        return items

    @v_args(inline=True, meta=True)
    def positional(self, meta: Any, value: Any) -> Argument:
        return Argument(None, value, self._at(meta))

    @v_args(inline=True)
    def keyword(self, name: Token, value: Any) -> Argument:
        return Argument(str(name), value, self._at(name))

    @v_args(meta=True)
    def subscripts(self, meta: Any, items: list) -> tuple[tuple, Location]:
        key = []
        for item in items:
            if isinstance(item, list):
                try:
                    item = np.array(item, dtype=np.int64)
                except (ValueError, OverflowError):
                    raise OptSyntaxError(
                        "an index list must be rectangular, of integers that fit in 64 bits", self._at(meta)
                    ) from None
            key.append(item)
        return tuple(key), self._at(meta)

    @v_args(inline=True)
    def at(self, number: Number) -> int:
        return number.as_int("an index")

    @v_args(inline=True)
    def whole_binary(self, left: Number, op: Token, right: Number) -> Number:
        if str(op) not in ("+", "-", "*"):
            raise OptSyntaxError(f"a subscript combines whole numbers and dims with +, - and * only, got {op}",
                                 self._at(op))
        a, b = left.as_int("a subscript"), right.as_int("a subscript")
        return Number(str(a + b if op == "+" else a - b if op == "-" else a * b), left.location)

    @v_args(inline=True)
    def whole_name(self, *tokens: Token) -> Number:
        *sign, name = tokens
        symbol = self.symbols.get(str(name))
        if symbol is None:
            raise self._unknown(name, "dim", [k for k, v in self.symbols.items() if v.kind == "dim"])
        if symbol.kind != "dim":
            raise OptNameError(f"{name} is a {symbol.kind}, not a dim: a subscript takes whole numbers and dims",
                               self._at(name))
        if symbol.value is None:
            raise OptNameError(_unsized(name), self._at(name))
        return Number("".join(map(str, sign)) + str(symbol.value), self._at(tokens[0]))

    @v_args(inline=True, meta=True)
    def whole_group(self, meta: Any, *items: Any) -> Number:
        *sign, inner = items
        value = inner.as_int("a subscript")
        return Number(str(-value if sign and str(sign[0]) == "-" else value), self._at(meta))

    @v_args(inline=True)
    def slice_bounds(self, start: Number | None, stop: Number | None, step: Number | None) -> slice:
        if step is not None and step.as_int("a slice step") == 0:
            raise OptSyntaxError("a slice step cannot be zero", step.location)
        return slice(*(None if b is None else b.as_int("a slice bound") for b in (start, stop, step)))

    def int_list(self, items: list) -> list:
        return [item.as_int("an index") if isinstance(item, Number) else item for item in items]

    @v_args(inline=True)
    def signed_number(self, *tokens: Token) -> Number:
        return Number("".join(tokens), self._at(tokens[0]))


def parse(text: str, *, filename: str = "<string>", data: Mapping[str, Any] | None = None, **dims: int) -> om.Problem:
    """The ``Problem`` a ``.opt`` text declares.

    Dims get their sizes from ``dims`` (``parse(text, m=5, n=3)``) or from the shapes of
    ``data`` for params (``parse(text, data={"A": A0})`` binds ``m, n`` from ``A0.shape``);
    data values are only looked at for their shapes. Errors are ``OptSourceError``\\ s naming
    ``filename``, line and column (see ``optdsl.grammar.errors``).

    >>> p = parse("dim n\\nparam lam >= 0\\nvar x[n]\\nminimize norm1(x) + lam * sum_squares(x)", n=3)
    >>> print(p)
    minimize norm1(x) + lam * sum_squares(x)
    >>> p.variables()[0].shape
    (3,)
    """
    if not isinstance(text, str):
        raise ArgumentTypeError(f"parse: text must be a str, got {type(text).__name__}")
    source = Source(text, filename)
    tree = parse_tree(source)
    sizes = bind_dims(tree, source, dims, data)
    return _transform(ModelBuilder(source, sizes), tree)


def parse_expression(text: str, problem: om.Problem, *, filename: str = "<string>") -> om.Expression:
    """The expression ``text`` (``.opt`` expression syntax) over the variables and parameters of ``problem``, and the
    dims of the ``.opt`` file it was parsed from.

    Errors are located in ``text`` itself, under ``filename``.

    >>> p = parse("var x[3]\\nminimize norm1(x)")
    >>> print(parse_expression("sum_squares(x - 1) / 2", p))
    sum_squares(x - 1) / 2
    """
    if not isinstance(text, str):
        raise ArgumentTypeError(f"parse_expression: text must be a str, got {type(text).__name__}")
    source = Source(text, filename)
    tree = parse_tree(source, start="expression")
    builder = ModelBuilder(source, {})
    builder.symbols.update((name, Symbol("dim", size, None)) for name, size in getattr(problem, "dims", {}).items())
    for kind, leaves in (("var", problem.variables()), ("param", problem.parameters())):
        builder.symbols.update((leaf.name, Symbol(kind, leaf, None)) for leaf in leaves)
    return _transform(builder, tree)


def _transform(builder: ModelBuilder, tree: Any) -> Any:
    try:
        return builder.transform(tree)
    except VisitError as error:
        raise error.orig_exc from None


def load(path: str | os.PathLike, *, data: Mapping[str, Any] | None = None, **dims: int) -> om.Problem:
    """The ``Problem`` declared in the ``.opt`` file at ``path`` (see ``parse``; errors name the file).

    The file must be UTF-8 text (``OptEncodingError`` at its first byte that is not).
    """
    with open(path, "rb") as file:
        raw = file.read()
    filename = os.fspath(path)
    return parse(decode_utf8(raw, filename), filename=filename, data=data, **dims)

