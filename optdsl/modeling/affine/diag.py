"""``diag(x)``: a vector to a diagonal matrix, or a matrix to its diagonal (numpy ``diag``)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.atom import Atom
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.errors import ShapeError
from optdsl.modeling.expression import Expression
from optdsl.modeling.shapes import Shape


class Diag(Atom):
    """(n,) -> (n, n) diagonal matrix; (m, n) -> (min(m, n),) main diagonal."""

    name = "diag"

    def shape_from_args(self) -> Shape:
        shape = self._args[0].shape
        if len(shape) == 1:
            return (shape[0], shape[0])
        if len(shape) == 2:
            return (min(shape),)
        raise ShapeError(f"diag: shape {shape} is neither a vector nor a matrix")

    def sign_from_args(self) -> Sign:
        return self._args[0].sign

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return True

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.INCREASING

    def forward(self, x: jax.Array) -> jax.Array:
        return jnp.diag(x)


def diag(x: Any) -> Expression:
    """Diagonal matrix of a vector, or the diagonal of a matrix.

    >>> from optdsl.modeling.affine.diag import diag
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = diag(x)
    >>> str(e), e.shape, e.curvature.value
    ('diag(x)', (3, 3), 'affine')
    """
    return Diag(x)
