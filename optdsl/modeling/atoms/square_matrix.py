"""The shape rule of atoms of one square matrix (``log_det``, ``lambda_max``)."""

from __future__ import annotations

from optdsl.modeling.errors import ShapeError
from optdsl.modeling.shapes import Shape


def scalar_of_square(op: str, shape: Shape) -> Shape:
    """``()`` when ``shape`` is (n, n); ``ShapeError`` naming ``op`` and the shape otherwise."""
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ShapeError(f"{op}: shape {shape} is not a square matrix")
    return ()
