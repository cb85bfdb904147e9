"""Joining expressions: ``concatenate(xs, axis=0)``, ``hstack(xs)`` and ``vstack(xs)`` (numpy rules)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.atom import Atom
from optdsl.modeling.curvature import Monotonicity, Sign, sign_of_sum
from optdsl.modeling.errors import ModelingError, ShapeError
from optdsl.modeling.expression import Expression
from optdsl.modeling.shapes import Shape, format_shapes, normalize_axis


def _joined_shape(op: str, parts: Sequence[Expression], shapes: Sequence[Shape], axis: int) -> Shape:
    """Shape of numpy's concatenate along ``axis`` of arrays with ``shapes`` (the parts' shapes, promoted)."""
    given = format_shapes([p.shape for p in parts])
    first = shapes[0]
    if not first:
        raise ShapeError(f"{op}: shapes {given}: scalars cannot be concatenated")
    if any(len(s) != len(first) for s in shapes):
        raise ShapeError(f"{op}: shapes {given} have different numbers of dimensions")
    axis = normalize_axis(op, axis, first)
    if any(s[:axis] + s[axis + 1 :] != first[:axis] + first[axis + 1 :] for s in shapes):
        raise ShapeError(f"{op}: shapes {given} do not match off axis {axis}")
    return first[:axis] + (sum(s[axis] for s in shapes),) + first[axis + 1 :]


class Stack(Atom):
    """Base of the joining operators: affine, increasing in every part, printed ``name([a, b, ...])``."""

    def __init__(self, parts: Sequence[Any]):
        if isinstance(parts, Expression) or not isinstance(parts, Sequence) or not parts:
            raise ModelingError(f"{self.name}: expected a non-empty list of expressions, got {parts!r}")
        super().__init__(*parts)

    def sign_from_args(self) -> Sign:
        return sign_of_sum(*(a.sign for a in self._args))

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return True

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.INCREASING

    def __str__(self) -> str:
        return f"{self.name}([{', '.join(map(str, self._args))}]{''.join(', ' + d for d in self.format_data())})"


class Concatenate(Stack):
    """Parts of equal number of dimensions joined along ``axis``."""

    name = "concatenate"

    def __init__(self, parts: Sequence[Any], axis: int = 0):
        self.axis = axis
        super().__init__(parts)
        self.axis = normalize_axis(self.name, axis, self._args[0].shape)

    def shape_from_args(self) -> Shape:
        return _joined_shape(self.name, self._args, [a.shape for a in self._args], self.axis)

    def forward(self, *parts: jax.Array) -> jax.Array:
        return jnp.concatenate(parts, axis=self.axis)

    def data(self) -> tuple:
        return (self.axis,)

    def format_data(self) -> list[str]:
        return [] if self.axis == 0 else [f"axis={self.axis}"]


class HStack(Stack):
    """numpy's ``hstack``: vectors (and scalars) end to end, matrices side by side."""

    name = "hstack"

    def shape_from_args(self) -> Shape:
        shapes = [a.shape or (1,) for a in self._args]
        return _joined_shape(self.name, self._args, shapes, 0 if len(shapes[0]) == 1 else 1)

    def forward(self, *parts: jax.Array) -> jax.Array:
        return jnp.hstack(parts)


class VStack(Stack):
    """numpy's ``vstack``: scalars and vectors become rows, then everything is stacked top to bottom."""

    name = "vstack"

    def shape_from_args(self) -> Shape:
        shapes = [(1,) * (2 - len(a.shape)) + a.shape for a in self._args]
        return _joined_shape(self.name, self._args, shapes, 0)

    def forward(self, *parts: jax.Array) -> jax.Array:
        return jnp.vstack(parts)


def concatenate(parts: Sequence[Any], axis: int = 0) -> Expression:
    """Join expressions with the same number of dimensions along ``axis``.

    >>> from optdsl.modeling.affine.stack import concatenate
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> y = Variable(3, name="y")
    >>> e = concatenate([x, y])
    >>> str(e), e.shape, e.curvature.value
    ('concatenate([x, y])', (6,), 'affine')
    """
    return Concatenate(parts, axis=axis)


def hstack(parts: Sequence[Any]) -> Expression:
    """Join horizontally (numpy ``hstack``): ``hstack([x, y])`` of vectors is their concatenation.

    >>> from optdsl.modeling.affine.stack import hstack
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> y = Variable(3, name="y")
    >>> e = hstack([x, y])
    >>> str(e), e.shape, e.curvature.value
    ('hstack([x, y])', (6,), 'affine')
    """
    return HStack(parts)


def vstack(parts: Sequence[Any]) -> Expression:
    """Join vertically (numpy ``vstack``): ``vstack([x, y])`` of (n,) vectors is a (2, n) matrix.

    >>> from optdsl.modeling.affine.stack import vstack
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> y = Variable(3, name="y")
    >>> e = vstack([x, y])
    >>> str(e), e.shape, e.curvature.value
    ('vstack([x, y])', (2, 3), 'affine')
    """
    return VStack(parts)
