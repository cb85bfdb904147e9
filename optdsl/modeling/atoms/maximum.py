"""``maximum(a, b, ...)``: the largest of two or more expressions, entry by entry (broadcasting)."""

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


class Maximum(Elementwise):
    """Entrywise largest of the arguments: convex, increasing in each, not differentiable at ties."""

    name = "maximum"
    smooth = False

    def __init__(self, *args: Any):
        if len(args) < 2:
            raise ModelingError(f"maximum: needs at least two arguments, got {len(args)}")
        super().__init__(*args)

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return False

    def sign_from_args(self) -> Sign:
        signs = [a.sign for a in self._args]
        return Sign.from_flags(any(s.is_nonneg for s in signs), all(s.is_nonpos for s in signs))

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.INCREASING

    def forward(self, *values: jax.Array) -> jax.Array:
        return functools.reduce(jnp.maximum, values)

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Epigraph ``maximum(a, b, ...) <= t``: every argument ``<= t``."""
        return [a <= t for a in args]


def maximum(*args: Any) -> Expression:
    """Entrywise largest of two or more expressions (numpy broadcasting).

    >>> from optdsl.modeling.atoms.maximum import maximum
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = maximum(x, 0)
    >>> str(e), e.shape, e.curvature.value
    ('maximum(x, 0)', (3,), 'convex')
    """
    return Maximum(*args)
