"""``x ** c`` with a parameter exponent ``c``: a monomial of a geometric program.

In a geometric program (``compile(gp=True)``) ``x ** c`` becomes ``c * log(x)`` in log space,
affine whatever the sign of ``c``, so the exponent may be any parameter (it is never logged).
In a convex model its curvature would depend on the value of ``c``, so it has none there.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.atom import Elementwise
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.errors import ModelingError
from optdsl.modeling.expression import as_expression
from optdsl.modeling.leaves import Parameter
from optdsl.modeling.printing import POWER, parenthesize


class ParameterPower(Elementwise):
    """``x_i ** c_i`` (broadcasting) for a parameter ``c``: log-log affine, of no DCP curvature."""

    name = "power"
    precedence = POWER
    restricted_domain = True

    def __init__(self, x: Any, c: Parameter):
        if not isinstance(c, Parameter):
            raise ModelingError(f"power: the exponent must be a number or a parameter, got the expression {c}")
        super().__init__(as_expression(x), c)

    @property
    def exponent(self) -> Parameter:
        """The parameter ``c``."""
        return self._args[1]  # type: ignore[return-value]

    def is_atom_convex(self) -> bool:
        return False

    def is_atom_concave(self) -> bool:
        return False

    def sign_from_args(self) -> Sign:
        return Sign.NONNEG if self._args[0].is_nonneg() else Sign.UNKNOWN

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.NONE

    def forward(self, x: jax.Array, c: jax.Array) -> jax.Array:
        return x ** c

    def clip_to_domain(self, x: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
        return jnp.maximum(x, 0), c

    def curvature_note(self) -> str:
        return (f"a power with the parameter exponent {self.exponent} has no DCP curvature: it depends on that "
                "parameter's value (use a constant exponent; as a monomial it belongs in a geometric program, "
                "compile(gp=True))")

    def __str__(self) -> str:
        x, c = self._args
        return f"{parenthesize(x, POWER + 1)} ** {c}"
