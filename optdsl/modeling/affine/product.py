"""What ``a * b`` and ``a @ b`` share: DCP only when one factor is constant (or a parameter)."""

from __future__ import annotations

from typing import ClassVar

from optdsl.modeling.atom import Atom
from optdsl.modeling.curvature import Curvature, Monotonicity, Sign, sign_monotonicity, sign_of_product


class Product(Atom):
    """A bilinear product: affine when a factor is constant, monotone in the other by that factor's sign."""

    title: ClassVar[str]  # what the product is called in messages

    def _is_scaling(self) -> bool:
        return any(a.curvature is Curvature.CONSTANT for a in self._args)

    def sign_from_args(self) -> Sign:
        return sign_of_product(self._args[0].sign, self._args[1].sign)

    def is_atom_convex(self) -> bool:
        return self._is_scaling()

    def is_atom_concave(self) -> bool:
        return self._is_scaling()

    def monotonicity(self, index: int) -> Monotonicity:
        other = self._args[1 - index]
        if other.curvature is not Curvature.CONSTANT:
            return Monotonicity.NONE
        return sign_monotonicity(other.sign)

    def curvature_note(self) -> str:
        a, b = self._args
        return (
            f"the {self.title} of two non-constant expressions {a} and {b} is not DCP "
            "(one factor must be a constant or a parameter)"
        )

    def nonmonotone_note(self, index: int) -> str:
        return f"the other factor {self._args[1 - index]} has unknown sign; declare it nonneg or nonpos"
