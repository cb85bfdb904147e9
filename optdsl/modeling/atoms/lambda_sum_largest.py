"""``lambda_sum_largest(X, k)``, ``lambda_sum_smallest(X, k)`` and ``lambda_min(X)``: sums of extreme eigenvalues.

Of the symmetric part ``(X + X') / 2``, as for ``lambda_max``. As in cvxpy, ``k`` may be
fractional (the ``floor(k)`` largest eigenvalues plus the fraction of the next one); a ``k``
beyond the order sums them all, the trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optdsl.modeling.affine.trace import trace
from optdsl.modeling.atoms.lambda_max import LambdaMax
from optdsl.modeling.atoms.sum_largest import positive_count, top_weights
from optdsl.modeling.constraints import PSD, Constraint
from optdsl.modeling.expression import Expression, as_expression
from optdsl.modeling.leaves import Variable
from optdsl.modeling.printing import format_number


class LambdaSumLargest(LambdaMax):
    """Sum of the ``k`` largest eigenvalues of a symmetric matrix: ``lambda_max``'s curvature, sign and domain."""

    name = "lambda_sum_largest"

    def __init__(self, X: Any, k: float):
        self.k = positive_count(self.name, k)
        super().__init__(X)

    def forward(self, X: jax.Array) -> jax.Array:
        decreasing = jnp.linalg.eigvalsh(X, symmetrize_input=True)[::-1]
        return decreasing @ top_weights(self.k, X.shape[0], X.dtype)

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Epigraph: ``Z >> 0``, ``Z + s I - X >> 0`` and ``k s + tr Z <= t``.

        The minimum of ``k s + tr pos(X - s I)`` over s is the sum of the k largest eigenvalues,
        reached at the k-th largest one (k at most the order), with Z the positive part.
        """
        (X,) = args
        order = X.shape[0]
        Z, s = Variable((order, order)), Variable(())
        return [PSD(Z), PSD(Z + s * np.eye(order) - X), min(self.k, order) * s + trace(Z) <= t]

    def data(self) -> tuple:
        return (self.k,)

    def format_data(self) -> list[str]:
        return [format_number(self.k)]


def lambda_sum_largest(X: Any, k: float) -> Expression:
    """Sum of the ``k`` largest eigenvalues of a symmetric matrix (its symmetric part).

    >>> from optdsl.modeling.atoms.lambda_sum_largest import lambda_sum_largest
    >>> from optdsl.modeling.leaves import Variable
    >>> X = Variable((3, 3), name="X")
    >>> e = lambda_sum_largest(X, 2)
    >>> str(e), e.shape, e.curvature.value
    ('lambda_sum_largest(X, 2)', (), 'convex')
    """
    return LambdaSumLargest(X, k)


def lambda_sum_smallest(X: Any, k: float) -> Expression:
    """Sum of the ``k`` smallest eigenvalues of a symmetric matrix: ``-lambda_sum_largest(-X, k)``, concave.

    >>> from optdsl.modeling.atoms.lambda_sum_largest import lambda_sum_smallest
    >>> from optdsl.modeling.leaves import Variable
    >>> X = Variable((3, 3), name="X")
    >>> e = lambda_sum_smallest(X, 2)
    >>> str(e), e.curvature.value
    ('-lambda_sum_largest(-X, 2)', 'concave')
    """
    return -LambdaSumLargest(-as_expression(X), k)


def lambda_min(X: Any) -> Expression:
    """Smallest eigenvalue of a symmetric matrix: ``-lambda_max(-X)``, concave.

    >>> from optdsl.modeling.atoms.lambda_sum_largest import lambda_min
    >>> from optdsl.modeling.leaves import Variable
    >>> X = Variable((3, 3), name="X")
    >>> e = lambda_min(X)
    >>> str(e), e.curvature.value
    ('-lambda_max(-X)', 'concave')
    """
    return -LambdaMax(-as_expression(X))
