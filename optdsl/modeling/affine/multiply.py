"""Elementwise product ``a * b`` (numpy broadcasting), also spelled ``multiply(a, b)``."""

from __future__ import annotations

from typing import Any

import jax

from optdsl.modeling.affine.product import Product
from optdsl.modeling.expression import Expression
from optdsl.modeling.printing import MUL, parenthesize
from optdsl.modeling.shapes import Shape, broadcast_shapes


class Multiply(Product):
    """``a * b`` entry by entry."""

    name = "multiply"
    title = "product"
    precedence = MUL

    def shape_from_args(self) -> Shape:
        return broadcast_shapes(self.name, *(a.shape for a in self._args))

    def forward(self, a: jax.Array, b: jax.Array) -> jax.Array:
        return a * b

    def suggestion(self) -> str | None:
        from optdsl.modeling.atoms.log import Log

        a, b = self._args
        if a.structure_key() == b.structure_key():
            return f"use square({a})"
        for x, other in ((a, b), (b, a)):
            if isinstance(other, Log) and other.args[0].structure_key() == x.structure_key():
                return f"use -entropy({x})"
        return None

    def __str__(self) -> str:
        a, b = self._args
        return f"{parenthesize(a, MUL)} * {parenthesize(b, MUL + 1)}"


def multiply(a: Any, b: Any) -> Expression:
    """Elementwise product with numpy broadcasting (what ``*`` builds; not a matrix product).

    >>> from optdsl.modeling.affine.multiply import multiply
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = multiply(x, 2)
    >>> str(e), e.shape, e.curvature.value
    ('x * 2', (3,), 'affine')
    """
    return Multiply(a, b)
