"""``reshape(x, shape)`` in C (row-major) order, as numpy's default."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.atom import Atom
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.errors import ShapeError
from optdsl.modeling.expression import Expression, as_expression
from optdsl.modeling.shapes import MAX_NDIM, Shape


def _target_shape(old: Shape, new: int | tuple[int, ...]) -> Shape:
    """Resolve at most one -1 in ``new`` and check the sizes agree."""
    try:
        dims = tuple(map(operator.index, new)) if isinstance(new, Sequence) else (operator.index(new),)
    except TypeError:
        dims = ()
    if not dims and new != () or any(d < -1 for d in dims) or dims.count(-1) > 1 or len(dims) > MAX_NDIM:
        raise ShapeError(f"reshape: cannot reshape shape {old} into {new!r} (ints, at most one -1, at most 2 dims)")
    size = math.prod(old)
    known = math.prod(d for d in dims if d != -1)
    if -1 in dims:
        if known == 0 or size % known:
            raise ShapeError(f"reshape: cannot reshape shape {old} into {dims}")
        dims = tuple(size // known if d == -1 else d for d in dims)
    if math.prod(dims) != size:
        raise ShapeError(f"reshape: cannot reshape shape {old} (size {size}) into {dims} (size {math.prod(dims)})")
    return dims


class Reshape(Atom):
    """``x`` with its entries laid out in C order into a new shape of the same size."""

    name = "reshape"

    def __init__(self, x: Any, shape: int | tuple[int, ...]):
        x = as_expression(x)
        self.new_shape = _target_shape(x.shape, shape)
        super().__init__(x)

    def shape_from_args(self) -> Shape:
        return self.new_shape

    def sign_from_args(self) -> Sign:
        return self._args[0].sign

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return True

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.INCREASING

    def forward(self, x: jax.Array) -> jax.Array:
        return jnp.reshape(x, self.new_shape)

    def data(self) -> tuple:
        return (self.new_shape,)

    def format_data(self) -> list[str]:
        return [str(self.new_shape)]


def reshape(x: Any, shape: int | tuple[int, ...]) -> Expression:
    """``x`` reshaped to ``shape`` in C order (one entry may be -1, inferred from the size).

    >>> from optdsl.modeling.affine.reshape import reshape
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = reshape(x, (3, 1))
    >>> str(e), e.shape, e.curvature.value
    ('reshape(x, (3, 1))', (3, 1), 'affine')
    """
    return Reshape(x, shape)
