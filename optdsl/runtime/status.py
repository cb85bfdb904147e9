"""Status codes a solver reports in its traced output.

Codes are plain ``int32`` values so they can live inside ``jit``/``vmap``; use
:func:`describe` on the host to turn one into words.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SOLVED = 0
MAX_ITERATIONS = 1
INFEASIBLE = 2
UNBOUNDED = 3
NUMERICAL_ERROR = 4
#: The solver stopped, but the model's own conditions do not hold to tolerance at its point
#: (e.g. a constraint is violated: an infeasible model, or an answer that is not accurate).
INACCURATE = 5
#: A parameter value lies outside its declared domain (``nonneg``, ``psd``, ...) or outside what an
#: atom's curvature assumed (``quad_form``'s matrix PSD): the model as solved is not the one declared.
INVALID_PARAMETER = 6

_NAMES = {
    SOLVED: "solved",
    MAX_ITERATIONS: "max_iterations",
    INFEASIBLE: "infeasible",
    UNBOUNDED: "unbounded",
    NUMERICAL_ERROR: "numerical_error",
    INACCURATE: "inaccurate",
    INVALID_PARAMETER: "invalid_parameter",
}


def describe(code: int) -> str:
    """Name of a status code (host side), e.g. ``describe(0) == "solved"``."""
    return _NAMES.get(int(code), f"unknown({int(code)})")


def describe_all(codes: Any) -> str | list:
    """Names of status codes on the host: a name for one code, (nested) lists of names for a batch."""
    return np.vectorize(describe, otypes=[object])(np.asarray(codes)).tolist()
