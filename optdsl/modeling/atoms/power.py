"""``power(x, p)`` (also ``x ** p``): ``x^p`` entry by entry for a constant exponent ``p != 0``.

Curvature follows cvxpy: ``p = 1`` affine; ``p`` an even integer: convex on all reals;
any other ``p > 1``: convex and increasing on the domain ``x >= 0``; ``0 < p < 1``:
concave and increasing on ``x >= 0``; ``p < 0``: convex and decreasing on ``x > 0``.
The forward function is ``x ** p``; keeping ``x`` in the domain is the compiler's job.

The conic graph form needs ``p = n / d`` rational with ``|n|, d <= MAX_TERMS``: it is a
tower of rotated second-order cones (:func:`geo_mean_cones`), as power cones are not
available; other exponents raise ``ModelingError`` when the conic form is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import jax

from optdsl.modeling.atom import Elementwise
from optdsl.modeling.atoms.square import square_cone
from optdsl.modeling.constraints import Constraint
from optdsl.modeling.curvature import Monotonicity, Sign, sign_monotonicity
from optdsl.modeling.errors import ModelingError
from optdsl.modeling.expression import Expression, as_expression
from optdsl.modeling.leaves import Variable
from optdsl.modeling.numbers import real_number
from optdsl.modeling.printing import POWER, format_number, parenthesize
from optdsl.modeling.shapes import broadcast_shapes

#: Largest numerator and denominator of an exponent the SOC tower of the conic form takes.
MAX_TERMS = 64


class Power(Elementwise):
    """``x_i^p`` (printed ``x ** p``)."""

    name = "power"
    precedence = POWER

    def __init__(self, x: Any, p: float):
        self.p = real_number(self.name, "the exponent p", p)
        if self.p == 0 or abs(self.p) == float("inf"):
            raise ModelingError(f"power: the exponent must be a finite nonzero number, got {p}")
        self.restricted_domain = not (self.p == 1 or self._even())  # x >= 0 (x > 0 for p < 0) otherwise
        super().__init__(as_expression(x))

    def _even(self) -> bool:
        return self.p.is_integer() and self.p % 2 == 0

    def is_atom_convex(self) -> bool:
        return self.p >= 1 or self.p < 0

    def is_atom_concave(self) -> bool:
        return 0 < self.p <= 1

    def sign_from_args(self) -> Sign:
        return self._args[0].sign if self.p == 1 else Sign.NONNEG

    def monotonicity(self, index: int) -> Monotonicity:
        if self._even():
            return sign_monotonicity(self._args[0].sign)
        return Monotonicity.DECREASING if self.p < 0 else Monotonicity.INCREASING

    def forward(self, x: jax.Array) -> jax.Array:
        return x ** (int(self.p) if self.p.is_integer() else self.p)

    def data(self) -> tuple:
        return (self.p,)

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Epigraph ``x^p <= t`` (p > 1 or p < 0) or hypograph ``x^p >= t`` (0 < p < 1), ``p = n / d``.

        ``p > 1``: ``|x| <= t^(d/n)`` (and the domain ``x >= 0`` unless p is an even integer);
        ``0 < p < 1``: ``t <= x^(n/d)``; ``p < 0``: ``1 <= t^(d/(d-n)) x^(-n/(d-n))``.
        """
        (x,) = args
        n, d = rational_exponent(self.name, self.p)
        if self.p > 1:
            domain = [] if self._even() else [x >= 0]
            return domain + geo_mean_cones(x, [t, 1], [d, n - d])
        if self.p > 0:
            return geo_mean_cones(t, [x, 1], [n, d - n])
        return geo_mean_cones(1, [t, x], [d, -n])

    def suggestion(self) -> str | None:
        from optdsl.modeling.atoms.sum_squares import SumSquares

        (arg,) = self._args
        if self.p == 0.5 and isinstance(arg, SumSquares):
            return f"use norm2({arg.args[0]}) instead"
        return None

    def __str__(self) -> str:
        return f"{parenthesize(self._args[0], POWER + 1)} ** {format_number(self.p)}"


def power(x: Any, p: float) -> Expression:
    """Elementwise ``x ** p`` for a constant exponent (see the module docstring for curvature).

    >>> from optdsl.modeling.atoms.power import power
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = power(x, 0.5)
    >>> str(e), e.shape, e.curvature.value
    ('x ** 0.5', (3,), 'concave')
    """
    return Power(x, p)


def rational_exponent(op: str, p: float) -> tuple[int, int]:
    """``(n, d)`` with ``p = n / d`` in lowest terms and ``|n|, d <= MAX_TERMS``; ``ModelingError`` otherwise.

    >>> rational_exponent("power", 1.5), rational_exponent("power", -1 / 3)
    ((3, 2), (-1, 3))
    """
    fraction = Fraction(p).limit_denominator(MAX_TERMS)
    if abs(float(fraction) - p) > 1e-12 * abs(p) or abs(fraction.numerator) > MAX_TERMS:
        raise ModelingError(
            f"{op}: the conic form needs a rational exponent n/d with |n|, d <= {MAX_TERMS} (a tower of "
            f"second-order cones; power cones are not available), got p={format_number(p)}")
    return fraction.numerator, fraction.denominator


def geo_mean_cones(top: Any, leaves: Sequence[Any], weights: Sequence[int]) -> list[Constraint]:
    """``|top| <= prod_i leaves_i^(w_i / W)`` entry by entry (broadcasting), ``W = sum(weights)``.

    A binary tree of rotated cones (:func:`square_cone`) over ``2^K >= W`` slots, leaf i
    filling ``w_i`` of them; each cone forces its leaves to be ``>= 0``. When ``W`` is not a
    power of two, a fresh ``v >= |top|`` fills the remaining slots itself:
    ``v^(2^K) <= prod leaves^(w_i) v^(2^K - W)`` is ``v <= prod leaves^(w_i / W)`` for ``v > 0``.

    >>> from optdsl.modeling.leaves import Variable
    >>> len(geo_mean_cones(Variable(name="x"), [Variable(name="t"), 1], [1, 3]))  # |x| <= t^(1/4)
    2
    """
    top = as_expression(top)
    pairs = [(as_expression(leaf), w) for leaf, w in zip(leaves, weights) if w > 0]
    shape = broadcast_shapes("geo_mean_cones", top.shape, *(leaf.shape for leaf, _ in pairs))
    total = sum(w for _, w in pairs)
    slots_count = 1 << (total - 1).bit_length()
    constraints: list[Constraint] = []
    if slots_count != total:
        v = Variable(shape)
        constraints += [top <= v, -top <= v]
        top = v
        pairs.append((v, slots_count - total))
    slots = [leaf for leaf, w in pairs for _ in range(w)]
    if len(slots) == 1:
        return constraints + [top <= slots[0], -top <= slots[0]]
    while len(slots) > 2:
        merged = []
        for a, b in zip(slots[::2], slots[1::2]):
            if a is b:
                merged.append(a)
            else:
                mean = Variable(shape)
                constraints.append(square_cone(mean, a, b))
                merged.append(mean)
        slots = merged
    return constraints + [square_cone(top, *slots)]
