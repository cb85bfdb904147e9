"""``log_sum_exp(x, axis=None, keepdims=False)``: ``log(sum(exp(x)))``, computed stably."""

from __future__ import annotations

from typing import Any

import jax
import jax.scipy.special

from optdsl.modeling.atom import Reduction
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.expression import Expression


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
