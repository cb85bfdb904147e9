"""The comparison rules of JAXopt's test case (``assertArraysAllClose``, ``assertAllClose``), for the ported tests.

JAXopt's tests ran in float32 with tolerances ``atol = rtol = 1e-6`` unless a test
says otherwise, and checked that dtypes match. The ports run every test in
float32 and in float64 with those same tolerances, so the float64 run checks
the same assertions on more precise inputs; nested tuples, lists and dicts are
compared leaf by leaf, as JAXopt's ``assertAllClose`` does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: JAXopt's default tolerance when a test gives none.
DEFAULT_TOL = 1e-6


def _dtype(x: Any) -> np.dtype:
    return np.dtype(type(x)) if isinstance(x, float) else np.asarray(x).dtype


def assert_close(x: Any, y: Any, *, atol: float | None = None, rtol: float | None = None,
                 check_dtypes: bool = True) -> None:
    """Leafwise ``numpy.testing.assert_allclose`` with JAXopt's defaults; equal structures and (optionally) dtypes."""
    if isinstance(x, dict):
        assert isinstance(y, dict) and set(x) == set(y)
        for key in x:
            assert_close(x[key], y[key], atol=atol, rtol=rtol, check_dtypes=check_dtypes)
        return
    if isinstance(x, (tuple, list)):
        assert isinstance(y, (tuple, list)) and len(x) == len(y)
        for a, b in zip(x, y):
            assert_close(a, b, atol=atol, rtol=rtol, check_dtypes=check_dtypes)
        return
    if check_dtypes:
        assert _dtype(x) == _dtype(y), (_dtype(x), _dtype(y))
    a, b = np.asarray(x), np.asarray(y)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, atol=DEFAULT_TOL if atol is None else atol,
                               rtol=DEFAULT_TOL if rtol is None else rtol)


def assert_equal(x: Any, y: Any) -> None:
    """Exact equality of values (leafwise) and dtypes, as JAXopt's ``assertArraysEqual``."""
    if isinstance(x, (tuple, list)):
        assert isinstance(y, (tuple, list)) and len(x) == len(y)
        for a, b in zip(x, y):
            assert_equal(a, b)
        return
    assert _dtype(x) == _dtype(y), (_dtype(x), _dtype(y))
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
