"""Indexing and slicing ``x[i]``, ``x[0:3]``, ``X[:, 1]``, ``x[[0, 2]]`` with numpy's result shapes."""

from __future__ import annotations

import operator
from typing import Any

import jax
import numpy as np

from optdsl.modeling.atom import Atom
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.errors import ModelingError, ShapeError
from optdsl.modeling.expression import Expression, as_expression
from optdsl.modeling.printing import POSTFIX, parenthesize
from optdsl.modeling.shapes import Shape


def _normalize_item(item: Any, expr: Expression) -> int | slice | np.ndarray:
    """One index entry as an int, a slice of ints, or an integer array."""
    if isinstance(item, Expression):
        raise ModelingError(
            f"index: {expr}[...]: indices must be ints, slices or integer arrays, not the expression {item}"
        )
    if isinstance(item, slice):
        try:
            normalized = slice(*(None if v is None else operator.index(v) for v in (item.start, item.stop, item.step)))
        except TypeError:
            raise ModelingError(f"index: {expr}[...]: slice bounds must be ints or None, got {item}") from None
        if normalized.step == 0:
            raise ModelingError(f"index: {expr}[...]: a slice step cannot be zero")
        return normalized
    if isinstance(item, (bool, np.bool_)):
        raise ModelingError(f"index: {expr}[...]: boolean indices are not supported, got {item!r}")
    if isinstance(item, (int, np.integer)):
        return int(item)
    array = np.array(item)
    if array.ndim == 0 or not np.issubdtype(array.dtype, np.integer):
        raise ModelingError(
            f"index: {expr}[...]: indices must be ints, slices or integer arrays, got {type(item).__name__} {item!r}"
        )
    array.setflags(write=False)
    return array


def _item_text(item: int | slice | np.ndarray) -> str:
    if isinstance(item, slice):
        text = ("" if item.start is None else str(item.start)) + ":" + ("" if item.stop is None else str(item.stop))
        return text if item.step is None else f"{text}:{item.step}"
    if isinstance(item, np.ndarray):
        return str(item.tolist()).replace("\n", "")
    return str(item)


def _item_key(item: int | slice | np.ndarray) -> tuple:
    if isinstance(item, slice):
        return ("slice", item.start, item.stop, item.step)
    if isinstance(item, np.ndarray):
        return ("array", item.shape, tuple(int(v) for v in item.ravel()))
    return ("int", item)


class Index(Atom):
    """``x[key]`` for a key of ints, slices and integer arrays (numpy basic and advanced indexing)."""

    name = "index"

    def __init__(self, x: Any, key: Any):
        x = as_expression(x)
        items = key if isinstance(key, tuple) else (key,)
        self.key = tuple(_normalize_item(item, x) for item in items)
        super().__init__(x)

    def shape_from_args(self) -> Shape:
        shape = self._args[0].shape
        probe = np.broadcast_to(np.zeros((), dtype=np.int8), shape)
        try:
            result = probe[self.key]
        except IndexError as error:
            text = ", ".join(map(_item_text, self.key))
            raise ShapeError(f"index: [{text}] does not fit shape {shape}: {error}") from None
        if result.ndim > 2:
            raise ShapeError(f"index: [{', '.join(map(_item_text, self.key))}] on shape {shape} gives {result.shape}")
        return result.shape

    def sign_from_args(self) -> Sign:
        return self._args[0].sign

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return True

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.INCREASING

    def forward(self, x: jax.Array) -> jax.Array:
        return x[self.key]

    def data(self) -> tuple:
        return tuple(_item_key(item) for item in self.key)

    def __str__(self) -> str:
        return f"{parenthesize(self._args[0], POSTFIX)}[{', '.join(map(_item_text, self.key))}]"
