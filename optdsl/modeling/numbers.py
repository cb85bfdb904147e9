"""Checking the static numbers atoms take (exponents, thresholds)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from optdsl.modeling.errors import ModelingError


def real_number(op: str, what: str, value: Any) -> float:
    """``value`` as a float if it is a real number (or a 0-d constant), else ``ModelingError`` naming it."""
    from optdsl.modeling.leaves import Constant

    if isinstance(value, Constant) and value.shape == ():
        value = value.value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating, np.ndarray)):
        raise ModelingError(f"{op}: {what} must be a real number, got {type(value).__name__} {value}")
    array = np.asarray(value)
    if array.shape != () or not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise ModelingError(f"{op}: {what} must be a real number, got {value!r}")
    number = float(array)
    if math.isnan(number):
        raise ModelingError(f"{op}: {what} must be a real number, got nan")
    return number


def real_array(op: str, what: str, value: Any) -> np.ndarray:
    """``value`` (numbers, an array or a constant) as a float array of finite entries, else ``ModelingError``."""
    from optdsl.modeling.leaves import Constant

    if isinstance(value, Constant):
        value = value.value
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        array = np.asarray(None)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise ModelingError(f"{op}: {what} must be a real number or an array of them, got {value!r}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ModelingError(f"{op}: {what} must have finite entries, got {value!r}")
    return array
