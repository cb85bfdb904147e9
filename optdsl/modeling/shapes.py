"""Shape rules shared by operators and atoms (numpy semantics, at most two dimensions)."""

from __future__ import annotations

import operator
from collections.abc import Sequence

import numpy as np

from optdsl.modeling.errors import ShapeError

Shape = tuple[int, ...]

MAX_NDIM = 2


def format_shapes(shapes: Sequence[Shape]) -> str:
    """``"(3, 4) and (5,)"`` / ``"(1,), (2,) and (3,)"``: shapes listed for an error message."""
    texts = [str(tuple(s)) for s in shapes]
    if len(texts) == 1:
        return texts[0]
    return ", ".join(texts[:-1]) + " and " + texts[-1]


def normalize_shape(shape: int | Sequence[int], what: str) -> Shape:
    """Turn an int or a sequence of ints into a shape tuple, checking it is a valid optdsl shape."""
    try:
        dims = (operator.index(shape),) if np.ndim(shape) == 0 else tuple(operator.index(d) for d in shape)
    except (TypeError, ValueError):
        raise ShapeError(f"{what}: shape must be an int or a tuple of ints, got {shape!r}") from None
    if any(d < 0 for d in dims):
        raise ShapeError(f"{what}: shape {dims} has a negative dimension")
    if len(dims) > MAX_NDIM:
        raise ShapeError(f"{what}: shape {dims} has {len(dims)} dimensions; at most {MAX_NDIM} are supported")
    return dims


def broadcast_shapes(op: str, *shapes: Shape) -> Shape:
    """numpy broadcasting of the given shapes; ``ShapeError`` naming ``op`` and all shapes if impossible."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ShapeError(f"{op}: shapes {format_shapes(shapes)} cannot be broadcast together") from None


def normalize_axis(op: str, axis: int | None, shape: Shape) -> int | None:
    """A non-negative axis for an array of this shape (negative axes count from the end)."""
    if axis is None:
        return None
    try:
        axis = operator.index(axis)
    except TypeError:
        raise ShapeError(f"{op}: axis must be an int or None, got {axis!r}") from None
    ndim = len(shape)
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{op}: axis {axis} is out of range for shape {shape}")
    return axis % ndim


def reduced_shape(shape: Shape, axis: int | None, keepdims: bool) -> Shape:
    """Shape after reducing along ``axis`` (all axes when None), as numpy's ``sum`` does."""
    if axis is None:
        return tuple(1 for _ in shape) if keepdims else ()
    if keepdims:
        return tuple(1 if i == axis else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i != axis)
