"""Interoperation with other tools: cvxpy problems in and out, and cvxpylayers-style layers.

``from_cvxpy`` / ``to_cvxpy`` live in :mod:`optdsl.interop.cvxpy` and import cvxpy only when
called (cvxpy is a test dependency); :class:`~optdsl.interop.layer.Layer` wraps a problem as a
``layer(*parameter_values) -> variable_values`` function, the call convention of
``cvxpylayers.jax.CvxpyLayer``.
"""

from optdsl.interop.cvxpy import from_cvxpy, to_cvxpy
from optdsl.interop.errors import InteropError
from optdsl.interop.layer import Layer

__all__ = ["InteropError", "Layer", "from_cvxpy", "to_cvxpy"]
