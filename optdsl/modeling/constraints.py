"""Constraints: ``==``, ``<=``/``>=``, and the cones ``SOC``, ``PSD`` (``X >> 0``), ``ExpCone`` and ``PowCone3D``.

Constraints are immutable; ``c.named("budget")`` returns a named copy. ``dual_shape`` is
the shape of the constraint's dual variable (the slot a solution fills):

* ``Equality`` / ``Inequality``: the broadcast shape of the two sides;
* ``SOC(t, x)``: ``(n + 1,)`` for x of shape (n,), stacked as ``(dual of t, dual of x)``;
  with ``axis``, ``(k, n + 1)``, one row per cone;
* ``PSD(X)``: ``X.shape``;
* ``ExpCone(x, y, z)`` and ``PowCone3D(x, y, z, alpha)``: ``(3, *x.shape)``, stacked as
  ``(dual of x, dual of y, dual of z)``.

``a >= b`` is stored as ``b <= a`` (``lhs <= rhs`` always) and printed as written.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np

from optdsl.modeling.dcp import expression_violations
from optdsl.modeling.errors import ModelingError, ShapeError
from optdsl.modeling.expression import Expression, as_expression
from optdsl.modeling.leaves import Constant, Parameter, Variable
from optdsl.modeling.numbers import real_array
from optdsl.modeling.printing import format_number
from optdsl.modeling.shapes import Shape, broadcast_shapes, format_shapes, normalize_axis


class Constraint:
    """Base of all constraints: arguments, an optional name, DCP check, structure key, printing."""

    kind: ClassVar[str]

    def __init__(self, *args: Any, name: str | None = None):
        self._args = tuple(as_expression(a) for a in args)
        self._name = _checked_name(name)
        self._dual_value: Any = None

    @property
    def args(self) -> tuple[Expression, ...]:
        """The constrained expressions."""
        return self._args

    @property
    def name(self) -> str | None:
        """The name given with ``named`` (``Problem.named_constraints`` generates the others)."""
        return self._name

    def name_at(self, position: int) -> str:
        """Its name as constraint number ``position`` of a problem: its own, else ``c<position>``."""
        return self._name if self._name is not None else f"c{position}"

    def named(self, name: str) -> Constraint:
        """A copy of this constraint carrying ``name`` (an identifier)."""
        renamed = copy.copy(self)
        renamed._name = _checked_name(name)
        return renamed

    @property
    def dual_shape(self) -> Shape:
        """Shape of the dual variable (see the module docstring)."""
        raise NotImplementedError

    @property
    def dual_variables(self) -> list[DualVariable]:
        """The constraint's dual variable in a list, as cvxpy spells it: ``Layer`` returns its value as an output."""
        return [DualVariable(self)]

    @property
    def dual_value(self) -> Any:
        """The dual value the last ``Problem.solve`` found (an array), or ``None``."""
        return self._dual_value

    def variables(self) -> list[Variable]:
        """Distinct variables in order of first appearance."""
        return _distinct(v for a in self._args for v in a.variables())

    def parameters(self) -> list[Parameter]:
        """Distinct parameters in order of first appearance."""
        return _distinct(p for a in self._args for p in a.parameters())

    def dcp_violations(self) -> list[str]:
        """Messages naming each broken DCP rule (empty when the constraint is DCP)."""
        raise NotImplementedError

    def is_dcp(self) -> bool:
        """Convex <= concave, affine == affine, affine cone arguments."""
        return not self.dcp_violations()

    def data(self) -> tuple:
        """Static settings (hashable), part of the structure key."""
        return ()

    def structure_key(self) -> tuple:
        """Hashable description: kind, name, settings and the arguments' structure keys."""
        return (type(self).__name__, self._name, self.data(), tuple(a.structure_key() for a in self._args))

    def body(self) -> str:
        """The constraint's text without its name."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.body() if self._name is None else f"{self._name}: {self.body()}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self})"

    def __bool__(self) -> bool:
        raise ModelingError(
            f"the constraint {self} has no truth value; chained comparisons such as 0 <= x <= 1 "
            "are not supported, write two constraints"
        )

    def _cone_violations(self) -> list[str]:
        place = f"{self.body()}: every argument of {self.kind}"
        return [m for a in self._args for m in expression_violations(a, "affine", place)]


class DualVariable:
    """The dual variable of a constraint (``constraint.dual_variables[0]``), to name it as a ``Layer`` output.

    Not an expression: a model cannot use it; it only points at its constraint and has the dual's shape.
    """

    def __init__(self, constraint: Constraint):
        self.constraint = constraint

    @property
    def shape(self) -> Shape:
        """The shape of the dual value (the constraint's ``dual_shape``)."""
        return self.constraint.dual_shape

    def __repr__(self) -> str:
        return f"DualVariable({self.constraint})"


def _checked_name(name: str | None) -> str | None:
    if name is not None and not (isinstance(name, str) and name.isidentifier()):
        raise ModelingError(f"constraint name must be an identifier string, got {name!r}")
    return name


def _distinct(items: Any) -> list:
    seen: dict[int, Any] = {}
    for item in items:
        seen.setdefault(id(item), item)
    return list(seen.values())


class Equality(Constraint):
    """``lhs == rhs`` entrywise (shapes broadcast); DCP when both sides are affine."""

    kind = "=="

    def __init__(self, lhs: Any, rhs: Any, name: str | None = None):
        super().__init__(lhs, rhs, name=name)
        self._shape = broadcast_shapes("==", *(a.shape for a in self._args))

    @property
    def lhs(self) -> Expression:
        return self._args[0]

    @property
    def rhs(self) -> Expression:
        return self._args[1]

    @property
    def dual_shape(self) -> Shape:
        return self._shape

    def dcp_violations(self) -> list[str]:
        place = f"{self.body()}: each side of =="
        return [m for a in self._args for m in expression_violations(a, "affine", place)]

    def body(self) -> str:
        return f"{self.lhs} == {self.rhs}"


class Inequality(Constraint):
    """``lhs <= rhs`` entrywise (shapes broadcast); DCP when lhs is convex and rhs concave.

    ``written_as_geq`` only records that the user wrote ``rhs >= lhs``, for printing.
    """

    kind = "<="

    def __init__(self, lhs: Any, rhs: Any, name: str | None = None, written_as_geq: bool = False):
        super().__init__(lhs, rhs, name=name)
        self._geq = bool(written_as_geq)
        self._shape = broadcast_shapes(">=" if self._geq else "<=", *(a.shape for a in self._args))

    @property
    def lhs(self) -> Expression:
        """The smaller side."""
        return self._args[0]

    @property
    def rhs(self) -> Expression:
        """The larger side."""
        return self._args[1]

    @property
    def dual_shape(self) -> Shape:
        return self._shape

    def dcp_violations(self) -> list[str]:
        op = ">=" if self._geq else "<="
        smaller, larger = ("right", "left") if self._geq else ("left", "right")
        return [
            *expression_violations(self.lhs, "convex", f"{self.body()}: the {smaller} side of {op}"),
            *expression_violations(self.rhs, "concave", f"{self.body()}: the {larger} side of {op}"),
        ]

    def body(self) -> str:
        return f"{self.rhs} >= {self.lhs}" if self._geq else f"{self.lhs} <= {self.rhs}"


class SOC(Constraint):
    """Second-order cone ``||x||_2 <= t``: t a scalar and x a vector.

    With ``axis=0`` (``axis=1``), x is a matrix and t a vector: ``||x[:, j]|| <= t[j]``
    (``||x[j, :]|| <= t[j]``) for every j.
    """

    kind = "SOC"

    def __init__(self, t: Any, x: Any, axis: int | None = None, name: str | None = None):
        super().__init__(t, x, name=name)
        t_shape, x_shape = self._args[0].shape, self._args[1].shape
        if axis is None:
            if t_shape != () or len(x_shape) != 1:
                raise ShapeError(f"SOC: shapes {t_shape} and {x_shape}: t must be a scalar and x a vector")
            self._axis = None
            self._dual = (x_shape[0] + 1,)
        else:
            if len(x_shape) != 2:
                raise ShapeError(f"SOC: shapes {t_shape} and {x_shape}: with an axis, x must be a matrix")
            self._axis = normalize_axis("SOC", axis, x_shape)
            count, length = x_shape[1 - self._axis], x_shape[self._axis]
            if t_shape != (count,):
                raise ShapeError(
                    f"SOC: shapes {t_shape} and {x_shape}: with axis={self._axis}, t must have shape ({count},)"
                )
            self._dual = (count, length + 1)

    @property
    def t(self) -> Expression:
        return self._args[0]

    @property
    def x(self) -> Expression:
        return self._args[1]

    @property
    def axis(self) -> int | None:
        """None for one cone; 0 (columns) or 1 (rows) for one cone per column or row of x."""
        return self._axis

    @property
    def dual_shape(self) -> Shape:
        return self._dual

    def dcp_violations(self) -> list[str]:
        return self._cone_violations()

    def data(self) -> tuple:
        return (self._axis,)

    def body(self) -> str:
        axis = "" if self._axis is None else f", axis={self._axis}"
        return f"SOC({self.t}, {self.x}{axis})"


class PSD(Constraint):
    """``X`` is symmetric positive semidefinite (``X >> 0``); X must be square.

    The cone sees X's symmetric part; the conic lowering states the symmetry of the entries
    the variables can make unequal, so an antisymmetric part is never left free.
    """

    kind = "PSD"

    def __init__(self, X: Any, name: str | None = None):
        super().__init__(X, name=name)
        shape = self._args[0].shape
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ShapeError(f"PSD: shape {shape} is not a square matrix")

    @property
    def expr(self) -> Expression:
        return self._args[0]

    @property
    def dual_shape(self) -> Shape:
        return self._args[0].shape

    def dcp_violations(self) -> list[str]:
        return self._cone_violations()

    def body(self) -> str:
        return f"{self.expr} >> 0"


class _ThreeRowCone(Constraint):
    """A cone over triples ``(x_i, y_i, z_i)`` taken entrywise from three expressions of one shape."""

    def __init__(self, x: Any, y: Any, z: Any, name: str | None = None):
        super().__init__(x, y, z, name=name)
        shapes = [a.shape for a in self._args]
        if len(set(shapes)) != 1:
            raise ShapeError(f"{self.kind}: shapes {format_shapes(shapes)} of x, y, z must be equal")

    def _place(self) -> str:
        return f"{self.kind}({self.x}, {self.y}, {self.z})"

    @property
    def x(self) -> Expression:
        return self._args[0]

    @property
    def y(self) -> Expression:
        return self._args[1]

    @property
    def z(self) -> Expression:
        return self._args[2]

    @property
    def dual_shape(self) -> Shape:
        return (3, *self._args[0].shape)

    def dcp_violations(self) -> list[str]:
        return self._cone_violations()


class ExpCone(_ThreeRowCone):
    """Exponential cone, entrywise: ``y * exp(x / y) <= z`` with y > 0 (and its closure); same shapes."""

    kind = "ExpCone"

    def body(self) -> str:
        return self._place()


class PowCone3D(_ThreeRowCone):
    """Power cone, entrywise: ``x^alpha * y^(1 - alpha) >= |z|`` with ``x, y >= 0``; same shapes (cvxpy's order).

    ``alpha`` is a constant in (0, 1): a number (every entry), an array of x's shape, or a
    flat list of ``x.size`` entries in C order (how ``.opt`` text writes it); it sets the cone
    itself, so it cannot be a parameter.
    """

    kind = "PowCone3D"

    def __init__(self, x: Any, y: Any, z: Any, alpha: Any, name: str | None = None):
        super().__init__(x, y, z, name=name)
        if isinstance(alpha, Expression) and not isinstance(alpha, Constant):
            raise ModelingError(f"{self._place()}: alpha must be a constant (it sets the cone), got {alpha}")
        value = real_array(self._place(), "alpha", alpha)
        shape = self.x.shape
        if value.shape not in ((), shape, (int(np.prod(shape)),)):
            raise ShapeError(f"{self._place()}: alpha of shape {value.shape} must be a number, of the shape "
                             f"{shape} of x, y, z, or a flat list of their {int(np.prod(shape))} entries")
        self._alpha = np.broadcast_to(value, shape) if value.ndim == 0 else np.reshape(value, shape)
        self._alpha.flags.writeable = False
        outside = np.argwhere((self._alpha <= 0) | (self._alpha >= 1))
        if len(outside):
            index = tuple(int(i) for i in outside[0])
            raise ModelingError(f"{self._place()}: alpha must lie in the open interval (0, 1), got "
                                f"{format_number(self._alpha[index])} at index {index} (shape {shape})")

    @property
    def alpha(self) -> np.ndarray:
        """The exponent of each cone, in the shape of x (read-only)."""
        return self._alpha

    def data(self) -> tuple:
        return (tuple(self._alpha.ravel().tolist()),)

    def body(self) -> str:
        flat = self._alpha.ravel()
        uniform = flat.size > 0 and bool(np.all(flat == flat[0]))
        alpha = format_number(flat[0]) if uniform else "[" + ", ".join(format_number(a) for a in flat) + "]"
        return f"PowCone3D({self.x}, {self.y}, {self.z}, {alpha})"


def psd_difference(a: Any, b: Any) -> PSD:
    """``a >> b``: ``PSD(a - b)``, written ``PSD(a)`` when b is zero (and ``PSD(-b)`` when a is)."""
    a, b = as_expression(a), as_expression(b)
    if _is_zero(b):
        return PSD(a)
    if _is_zero(a):
        return PSD(-b)
    return PSD(a - b)


def _is_zero(expr: Expression) -> bool:
    return isinstance(expr, Constant) and expr.shape == () and float(expr.value) == 0.0
