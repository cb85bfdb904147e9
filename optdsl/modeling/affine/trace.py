"""``trace(X)``: the sum of the diagonal of a square matrix."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.atom import Atom
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.errors import ShapeError
from optdsl.modeling.expression import Expression
from optdsl.modeling.shapes import Shape


class Trace(Atom):
    """Sum of ``X[i, i]`` for a square ``X``: a scalar, affine and increasing."""

    name = "trace"

    def shape_from_args(self) -> Shape:
        shape = self._args[0].shape
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ShapeError(f"trace: shape {shape} is not a square matrix")
        return ()

    def sign_from_args(self) -> Sign:
        return self._args[0].sign

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return True

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.INCREASING

    def forward(self, x: jax.Array) -> jax.Array:
        return jnp.trace(x)


def trace(x: Any) -> Expression:
    """Trace of a square matrix.

    >>> from optdsl.modeling.affine.trace import trace
    >>> from optdsl.modeling.leaves import Variable
    >>> X = Variable((2, 2), name="X")
    >>> e = trace(X)
    >>> str(e), e.shape, e.curvature.value
    ('trace(X)', (), 'affine')
    """
    return Trace(x)
