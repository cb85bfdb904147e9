"""Curvature, sign and monotonicity, and the DCP rules that combine them.

The rules are small pure functions so that atoms, operators and the compiler share
one definition of disciplined convex programming (DCP):

* a node is convex when its atom is convex and every argument is affine, or convex
  where the atom is increasing in it, or concave where the atom is decreasing in it;
* concave is the mirror image; a node that is both is affine; a node whose
  arguments are all constant is constant.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

import numpy as np


class Curvature(str, Enum):
    """What is known about an expression's curvature, from most to least specific."""

    CONSTANT = "constant"
    AFFINE = "affine"
    CONVEX = "convex"
    CONCAVE = "concave"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @property
    def is_affine(self) -> bool:
        """Constant or affine."""
        return self in (Curvature.CONSTANT, Curvature.AFFINE)

    @property
    def is_convex(self) -> bool:
        """Constant, affine or convex."""
        return self.is_affine or self is Curvature.CONVEX

    @property
    def is_concave(self) -> bool:
        """Constant, affine or concave."""
        return self.is_affine or self is Curvature.CONCAVE

    def negate(self) -> Curvature:
        """Curvature of ``-e`` when ``e`` has this curvature."""
        flipped = {Curvature.CONVEX: Curvature.CONCAVE, Curvature.CONCAVE: Curvature.CONVEX}
        return flipped.get(self, self)


class Sign(str, Enum):
    """What is known about the sign of every entry of an expression."""

    NONNEG = "nonneg"
    NONPOS = "nonpos"
    ZERO = "zero"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @property
    def is_nonneg(self) -> bool:
        """Every entry is >= 0 (zero counts)."""
        return self in (Sign.NONNEG, Sign.ZERO)

    @property
    def is_nonpos(self) -> bool:
        """Every entry is <= 0 (zero counts)."""
        return self in (Sign.NONPOS, Sign.ZERO)

    @staticmethod
    def from_flags(nonneg: bool, nonpos: bool) -> Sign:
        """The sign known to be both/either/neither nonnegative and nonpositive."""
        if nonneg and nonpos:
            return Sign.ZERO
        if nonneg:
            return Sign.NONNEG
        if nonpos:
            return Sign.NONPOS
        return Sign.UNKNOWN

    @staticmethod
    def of_values(values: np.ndarray) -> Sign:
        """Sign of a concrete array (NaN entries make it unknown)."""
        values = np.asarray(values)
        return Sign.from_flags(bool(np.all(values >= 0)), bool(np.all(values <= 0)))

    def negate(self) -> Sign:
        """Sign of ``-e`` when ``e`` has this sign."""
        return Sign.from_flags(self.is_nonpos, self.is_nonneg)


class Monotonicity(str, Enum):
    """How an atom moves with one of its arguments (on the argument's known sign)."""

    INCREASING = "increasing"
    DECREASING = "decreasing"
    NONE = "none"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


def sign_of_sum(*signs: Sign) -> Sign:
    """Sign of a sum (or of a stack, a max, ...) of terms with the given signs."""
    return Sign.from_flags(all(s.is_nonneg for s in signs), all(s.is_nonpos for s in signs))


def sign_of_product(a: Sign, b: Sign) -> Sign:
    """Sign of a product (or a sum of such products, as in ``A @ x``) of factors with signs a, b."""
    if Sign.ZERO in (a, b):
        return Sign.ZERO
    same = (a.is_nonneg and b.is_nonneg) or (a.is_nonpos and b.is_nonpos)
    opposite = (a.is_nonneg and b.is_nonpos) or (a.is_nonpos and b.is_nonneg)
    return Sign.from_flags(same, opposite)


def sign_monotonicity(sign: Sign) -> Monotonicity:
    """Monotonicity of ``|t|``-like functions and of ``c * t`` in ``t``, given the deciding sign.

    Increasing where the sign is nonnegative, decreasing where it is nonpositive,
    not monotone when the sign is unknown.
    """
    if sign.is_nonneg:
        return Monotonicity.INCREASING
    if sign.is_nonpos:
        return Monotonicity.DECREASING
    return Monotonicity.NONE


def allows_convex(monotonicity: Monotonicity, argument: Curvature) -> bool:
    """Whether an argument of this curvature keeps a convex atom convex (the DCP rule)."""
    return (
        argument.is_affine
        or (monotonicity is Monotonicity.INCREASING and argument.is_convex)
        or (monotonicity is Monotonicity.DECREASING and argument.is_concave)
    )


def allows_concave(monotonicity: Monotonicity, argument: Curvature) -> bool:
    """Whether an argument of this curvature keeps a concave atom concave (the DCP rule)."""
    return (
        argument.is_affine
        or (monotonicity is Monotonicity.INCREASING and argument.is_concave)
        or (monotonicity is Monotonicity.DECREASING and argument.is_convex)
    )


def compose(
    atom_convex: bool, atom_concave: bool, arguments: Sequence[tuple[Monotonicity, Curvature]]
) -> Curvature:
    """Curvature of ``f(g_1, ..., g_k)`` from f's curvature and (monotonicity, curvature) per g_i."""
    if all(curvature is Curvature.CONSTANT for _, curvature in arguments):
        return Curvature.CONSTANT
    convex = atom_convex and all(allows_convex(m, c) for m, c in arguments)
    concave = atom_concave and all(allows_concave(m, c) for m, c in arguments)
    if convex and concave:
        return Curvature.AFFINE
    if convex:
        return Curvature.CONVEX
    if concave:
        return Curvature.CONCAVE
    return Curvature.UNKNOWN
