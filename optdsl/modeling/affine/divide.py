"""Elementwise division ``a / b`` (numpy broadcasting); DCP only for a constant denominator."""

from __future__ import annotations

import jax

from optdsl.modeling.atom import Atom
from optdsl.modeling.curvature import Curvature, Monotonicity, Sign, sign_monotonicity, sign_of_product
from optdsl.modeling.printing import MUL, parenthesize
from optdsl.modeling.shapes import Shape, broadcast_shapes


class Divide(Atom):
    """``a / b``: affine in ``a`` when ``b`` is a constant or parameter; otherwise of unknown curvature."""

    name = "divide"
    precedence = MUL

    def _denominator_constant(self) -> bool:
        return self._args[1].curvature is Curvature.CONSTANT

    def shape_from_args(self) -> Shape:
        return broadcast_shapes(self.name, *(a.shape for a in self._args))

    def sign_from_args(self) -> Sign:
        a, b = self._args
        return Sign.UNKNOWN if b.sign is Sign.ZERO else sign_of_product(a.sign, b.sign)

    def is_atom_convex(self) -> bool:
        return self._denominator_constant()

    def is_atom_concave(self) -> bool:
        return self._denominator_constant()

    def monotonicity(self, index: int) -> Monotonicity:
        b = self._args[1]
        if index == 1 or not self._denominator_constant() or b.sign is Sign.ZERO:
            return Monotonicity.NONE
        return sign_monotonicity(b.sign)

    def forward(self, a: jax.Array, b: jax.Array) -> jax.Array:
        return a / b

    def curvature_note(self) -> str:
        return (
            f"division by the non-constant expression {self._args[1]} is not DCP "
            "(divide only by constants or parameters)"
        )

    def nonmonotone_note(self, index: int) -> str:
        return f"the denominator {self._args[1]} has unknown sign; declare it nonneg or nonpos"

    def suggestion(self) -> str | None:
        from optdsl.modeling.atoms.sum_squares import SumSquares

        a, b = self._args
        if a.curvature is Curvature.CONSTANT and a.shape == ():
            return f"use {'' if str(a) == '1' else parenthesize(a, MUL) + ' * '}inv_pos({b})"
        if isinstance(a, SumSquares):
            return f"use quad_over_lin({a.args[0]}, {b})"
        return None

    def __str__(self) -> str:
        a, b = self._args
        return f"{parenthesize(a, MUL)} / {parenthesize(b, MUL + 1)}"
