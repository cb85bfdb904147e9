"""Errors raised while building or checking a model."""

from __future__ import annotations

from collections.abc import Sequence

from optdsl.errors import OptDSLError


class ModelingError(OptDSLError):
    """A model is built wrongly: a bad argument, a missing leaf value, a duplicate name."""


class ShapeError(ModelingError):
    """Operand shapes do not fit an operation; the message names the operation and every shape."""


class DCPError(ModelingError):
    """A model breaks the disciplined convex programming rules.

    ``violations`` holds one message per offending place, each naming the sub-expression
    (printed) and the broken rule, e.g.
    ``"sqrt(sum_squares(x)): concave atom sqrt applied to a convex argument sum_squares(x) ..."``.
    """

    def __init__(self, violations: Sequence[str]):
        self.violations = tuple(violations)
        super().__init__("\n".join(self.violations))


class DGPError(DCPError):
    """A model solved as a geometric program (``gp=True``) is not log-log convex.

    ``violations`` names each offending place, as for ``DCPError``, e.g.
    ``"objective: -y: subtraction and negation are not log-log convex or concave (...)"``.
    """
