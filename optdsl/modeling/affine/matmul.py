"""Matrix product ``a @ b`` with numpy's rules for vectors and matrices."""

from __future__ import annotations

import jax

from optdsl.modeling.affine.product import Product
from optdsl.modeling.errors import ShapeError
from optdsl.modeling.printing import MUL, parenthesize
from optdsl.modeling.shapes import Shape


class MatMul(Product):
    """``a @ b``: (n,)@(n,) -> (), (m,n)@(n,) -> (m,), (n,)@(n,k) -> (k,), (m,n)@(n,k) -> (m,k)."""

    name = "matmul"
    title = "matrix product"
    precedence = MUL
    accepts_sparse = True

    def shape_from_args(self) -> Shape:
        a, b = (arg.shape for arg in self._args)
        if not a or not b:
            raise ShapeError(f"matmul: shapes {a} and {b}: scalar operands are not allowed (use * to scale)")
        if a[-1] != b[0]:
            raise ShapeError(f"matmul: shapes {a} and {b} are not aligned ({a[-1]} != {b[0]})")
        return a[:-1] + b[1:]

    def forward(self, a: jax.Array, b: jax.Array) -> jax.Array:
        return a @ b  # the operator, so a sparse operand's own product runs

    def suggestion(self) -> str | None:
        a, b = self._args
        if a.structure_key() == b.structure_key():
            return f"use sum_squares({a})"
        if isinstance(a, MatMul) and a.args[0].structure_key() == b.structure_key():
            return f"use quad_form({b}, {a.args[1]})"
        return None

    def __str__(self) -> str:
        a, b = self._args
        return f"{parenthesize(a, MUL)} @ {parenthesize(b, MUL + 1)}"
