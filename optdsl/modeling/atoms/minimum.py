"""``minimum(a, b, ...)``: the smallest of two or more expressions, entry by entry (broadcasting)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.atom import Elementwise
from optdsl.modeling.constraints import Constraint
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.errors import ModelingError
from optdsl.modeling.expression import Expression


class Minimum(Elementwise):
    """Entrywise smallest of the arguments: concave, increasing in each, not differentiable at ties."""

    name = "minimum"
    smooth = False

    def __init__(self, *args: Any):
        if len(args) < 2:
            raise ModelingError(f"minimum: needs at least two arguments, got {len(args)}")
        super().__init__(*args)

    def is_atom_convex(self) -> bool:
        return False

    def is_atom_concave(self) -> bool:
        return True

    def sign_from_args(self) -> Sign:
        signs = [a.sign for a in self._args]
        return Sign.from_flags(all(s.is_nonneg for s in signs), any(s.is_nonpos for s in signs))

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.INCREASING

    def forward(self, *values: jax.Array) -> jax.Array:
        return functools.reduce(jnp.minimum, values)

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Hypograph ``minimum(a, b, ...) >= t``: every argument ``>= t``."""
        return [a >= t for a in args]


def minimum(*args: Any) -> Expression:
    """Entrywise smallest of two or more expressions (numpy broadcasting).

    >>> from optdsl.modeling.atoms.minimum import minimum
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> y = Variable(3, name="y")
    >>> e = minimum(x, y)
    >>> str(e), e.shape, e.curvature.value
    ('minimum(x, y)', (3,), 'concave')
    """
    return Minimum(*args)
