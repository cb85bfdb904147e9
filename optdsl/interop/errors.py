"""Errors raised when a model crosses to or from another tool, or a layer is misused."""

from __future__ import annotations

from optdsl.modeling.errors import ModelingError


class InteropError(ModelingError, ValueError):
    """A model part has no counterpart in the other tool (the message names it), or a layer got bad input.

    A ``ValueError`` too, as cvxpylayers raises for the same misuse, so ``except ValueError`` keeps working.
    """
