"""``log_sum_exp(x, axis=None, keepdims=False)``: ``log(sum(exp(x)))``, computed stably."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.scipy.special

from optdsl.modeling.affine.reshape import reshape
from optdsl.modeling.affine.sum import Sum
from optdsl.modeling.atom import Reduction
from optdsl.modeling.atoms.exp import Exp
from optdsl.modeling.constraints import Constraint
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.expression import Expression
from optdsl.modeling.shapes import reduced_shape


class LogSumExp(Reduction):
    """``log sum_i e^{x_i}`` along ``axis``: convex, increasing, of unknown sign, smooth."""

    name = "log_sum_exp"

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return False

    def sign_from_args(self) -> Sign:
        return Sign.UNKNOWN

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.INCREASING

    def forward(self, x: jax.Array) -> jax.Array:
        return jax.scipy.special.logsumexp(x, axis=self.axis, keepdims=self.keepdims)

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Epigraph ``log sum exp(x) <= t`` along the axis: ``sum exp(x - t) <= 1`` (through exp's graph form)."""
        (x,) = args
        bound = reshape(t, reduced_shape(x.shape, self.axis, keepdims=True))
        return [Sum(Exp(x - bound), axis=self.axis, keepdims=self.keepdims) <= 1]


def log_sum_exp(x: Any, axis: int | None = None, keepdims: bool = False) -> Expression:
    """Log of the sum of exponentials of ``x`` (all entries, or along ``axis``).

    >>> from optdsl.modeling.atoms.log_sum_exp import log_sum_exp
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = log_sum_exp(x)
    >>> str(e), e.shape, e.curvature.value
    ('log_sum_exp(x)', (), 'convex')
    """
    return LogSumExp(x, axis=axis, keepdims=keepdims)
