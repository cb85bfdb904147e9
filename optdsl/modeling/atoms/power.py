"""``power(x, p)`` (also ``x ** p``): ``x^p`` entry by entry for a constant exponent ``p != 0``.

Curvature follows cvxpy: ``p = 1`` affine; ``p`` an even integer: convex on all reals;
any other ``p > 1``: convex and increasing on the domain ``x >= 0``; ``0 < p < 1``:
concave and increasing on ``x >= 0``; ``p < 0``: convex and decreasing on ``x > 0``.
The forward function is ``x ** p``; keeping ``x`` in the domain is the compiler's job.

The conic graph form takes every exponent (:func:`geo_mean_cones`): a tower of rotated
second-order cones when ``p = n / d`` is a small rational (``|n|, d <= MAX_TERMS``), power
cones otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import jax
import numpy as np

from optdsl.modeling.atom import Elementwise
from optdsl.modeling.atoms.square import square_cone
from optdsl.modeling.constraints import Constraint, PowCone3D
from optdsl.modeling.curvature import Monotonicity, Sign, sign_monotonicity
from optdsl.modeling.errors import ModelingError
from optdsl.modeling.expression import Expression, as_expression
from optdsl.modeling.leaves import Constant, Parameter, Variable
from optdsl.modeling.numbers import real_number
from optdsl.modeling.printing import POWER, format_number, parenthesize
from optdsl.modeling.shapes import Shape, broadcast_shapes

#: Largest common denominator of the weights (of an exponent ``n / d``: ``|n|, d``) the SOC tower takes.
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
        """Epigraph ``x^p <= t`` (p > 1 or p < 0) or hypograph ``x^p >= t`` (0 < p < 1), by :func:`geo_mean_cones`.

        ``p > 1``: ``|x| <= t^(1/p)``, and the domain ``x >= 0`` unless p is an even integer. That domain is a
        constraint only for an affine ``x``: a convex ``x`` stands in as an upper bound ``u >= x`` of its own, and
        ``|u| <= t^(1/p)`` already makes the epigraph that of ``max(x, 0)^p``, as in cvxpy;
        ``0 < p < 1``: ``t <= x^p``; ``p < 0``: ``1 <= t^(1/(1-p)) x^(-p/(1-p))``.
        """
        (x,) = args
        if self.p > 1:
            domain = [x >= 0] if x.is_affine() and not self._even() else []
            return domain + geo_mean_cones(x, [t, 1], [1, self.p - 1])
        if self.p > 0:
            return geo_mean_cones(t, [x, 1], [self.p, 1 - self.p])
        return geo_mean_cones(1, [t, x], [1, -self.p])

    def suggestion(self) -> str | None:
        from optdsl.modeling.atoms.sum_squares import SumSquares

        (arg,) = self._args
        if self.p == 0.5 and isinstance(arg, SumSquares):
            return f"use norm2({arg.args[0]}) instead"
        return None

    def __str__(self) -> str:
        return f"{parenthesize(self._args[0], POWER + 1)} ** {format_number(self.p)}"


def power(x: Any, p: float | Parameter) -> Expression:
    """Elementwise ``x ** p`` for a constant exponent (see the module docstring for curvature).

    A parameter exponent gives a :class:`~optdsl.modeling.atoms.parameter_power.ParameterPower`,
    a monomial for geometric programs.

    >>> from optdsl.modeling.atoms.power import power
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = power(x, 0.5)
    >>> str(e), e.shape, e.curvature.value
    ('x ** 0.5', (3,), 'concave')
    """
    if isinstance(p, Parameter):
        from optdsl.modeling.atoms.parameter_power import ParameterPower

        return ParameterPower(x, p)
    return Power(x, p)


def small_integer_weights(weights: Sequence[float]) -> list[int] | None:
    """Integers proportional to ``weights`` (positive) summing to at most ``MAX_TERMS``, or None when there are none.

    These are the weights the SOC tower takes; None sends :func:`geo_mean_cones` to power cones.

    >>> small_integer_weights([1, 1.5]), small_integer_weights([0.5, 2 ** 0.5])
    ([2, 3], None)
    """
    total = sum(weights)
    fractions = [Fraction(w / total).limit_denominator(MAX_TERMS) for w in weights]
    if any(abs(float(f) - w / total) > 1e-12 for f, w in zip(fractions, weights)):
        return None
    denominator = math.lcm(*(f.denominator for f in fractions))
    counts = [int(f * denominator) for f in fractions]
    return counts if sum(counts) == denominator <= MAX_TERMS else None


def geo_mean_cones(top: Any, leaves: Sequence[Any], weights: Sequence[float]) -> list[Constraint]:
    """``|top| <= prod_i leaves_i^(w_i / W)`` entry by entry (broadcasting), ``W = sum(weights)``, weights >= 0.

    The one graph form of ``power``, ``pnorm`` and ``geo_mean``; every leaf is forced to be
    ``>= 0``. Weights proportional to small integers (:func:`small_integer_weights`) take a
    tower of rotated second-order cones, which the interior point handles with its cheaper
    symmetric scaling; any other weights take a chain of power cones.

    >>> from optdsl.modeling.leaves import Variable
    >>> len(geo_mean_cones(Variable(name="x"), [Variable(name="t"), 1], [1, 3]))  # |x| <= t^(1/4)
    2
    >>> print(*geo_mean_cones(Variable(name="x"), [Variable(name="t"), 1], [1, 2 ** 0.5]))
    PowCone3D(t, 1, x, 0.4142135623730951)
    """
    top = as_expression(top)
    pairs = [(as_expression(leaf), float(w)) for leaf, w in zip(leaves, weights) if w > 0]
    shape = broadcast_shapes("geo_mean_cones", top.shape, *(leaf.shape for leaf, _ in pairs))
    counts = small_integer_weights([w for _, w in pairs])
    if counts is None:
        return _power_cone_chain(top, pairs, shape)
    return _soc_tower(top, [(leaf, n) for (leaf, _), n in zip(pairs, counts)], shape)


def _power_cone_chain(top: Expression, pairs: list[tuple[Expression, float]], shape: Shape) -> list[Constraint]:
    """``|top| <= x_1^a r^(1 - a)``, ``a = w_1 / W``, and ``r`` bounded by the other leaves in turn (two or more)."""
    constraints: list[Constraint] = []
    while len(pairs) > 2:
        (leaf, weight), pairs = pairs[0], pairs[1:]
        rest = Variable(shape)
        share = weight / (weight + sum(w for _, w in pairs))
        constraints.append(PowCone3D(_broadcast(leaf, shape), rest, _broadcast(top, shape), share))
        top = rest
    (first, a), (second, b) = pairs
    last = PowCone3D(_broadcast(first, shape), _broadcast(second, shape), _broadcast(top, shape), a / (a + b))
    return [*constraints, last]


def _broadcast(expr: Expression, shape: Shape) -> Expression:
    """``expr`` broadcast to ``shape`` (a power cone takes arguments of equal shapes)."""
    if expr.shape == shape:
        return expr
    if isinstance(expr, Constant):
        return Constant(np.broadcast_to(expr.value, shape))
    return expr + np.zeros(shape)


def _soc_tower(top: Expression, pairs: list[tuple[Expression, int]], shape: Shape) -> list[Constraint]:
    """A binary tree of rotated cones (:func:`square_cone`) over ``2^K >= W`` slots, leaf i filling ``w_i``.

    Each cone forces its leaves to be ``>= 0``. When ``W`` is not a power of two, a fresh
    ``v >= |top|`` fills the remaining slots itself: ``v^(2^K) <= prod leaves^(w_i) v^(2^K - W)``
    is ``v <= prod leaves^(w_i / W)`` for ``v > 0``.
    """
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
