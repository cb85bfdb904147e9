"""``log(x)``: the natural logarithm entry by entry (domain x > 0)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optdsl.modeling.atom import Elementwise
from optdsl.modeling.constraints import Constraint, ExpCone
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.expression import Expression


class Log(Elementwise):
    """``log(x_i)``: concave, increasing, of unknown sign, smooth on x > 0."""

    name = "log"
    restricted_domain = True

    def is_atom_convex(self) -> bool:
        return False

    def is_atom_concave(self) -> bool:
        return True

    def sign_from_args(self) -> Sign:
        return Sign.UNKNOWN

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.INCREASING

    def forward(self, x: jax.Array) -> jax.Array:
        return jnp.log(x)

    def suggestion(self) -> str | None:
        from optdsl.modeling.affine.add import Add
        from optdsl.modeling.affine.sum import Sum
        from optdsl.modeling.atoms.exp import Exp
        from optdsl.modeling.leaves import Constant

        (arg,) = self._args
        if isinstance(arg, Sum) and isinstance(arg.args[0], Exp):
            settings = "".join(", " + s for s in arg.format_data())
            return f"use log_sum_exp({arg.args[0].args[0]}{settings}) instead"
        if isinstance(arg, Add) and len(arg.args) == 2:
            for one, other in (arg.args, arg.args[::-1]):
                if isinstance(one, Constant) and str(one) == "1" and isinstance(other, Exp):
                    return f"use logistic({other.args[0]}) instead"
        return None

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Hypograph ``log(x) >= t``: ``ExpCone(t, 1, x)`` (``exp(t) <= x``) entry by entry."""
        (x,) = args
        return [ExpCone(t, np.ones(x.shape), x)]


def log(x: Any) -> Expression:
    """Elementwise natural logarithm.

    >>> from optdsl.modeling.atoms.log import log
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = log(x)
    >>> str(e), e.shape, e.curvature.value
    ('log(x)', (3,), 'concave')
    """
    return Log(x)
