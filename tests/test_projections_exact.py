"""Exactness and contracts of the projections beyond the generic table in test_projections.py.

The simplex (and the l1 ball, l1 sphere and l-infinity prox built on it) against an exact rational reference for
inputs of any finite magnitude.
"""

from __future__ import annotations

from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optdsl.runtime import projections as P
from optdsl.runtime.prox import prox_linf_norm


def _exact_simplex(x: np.ndarray, value: float) -> np.ndarray:
    """The simplex projection in exact rational arithmetic, rounded once to float64."""
    xs = [Fraction(float(v)) for v in x]
    u = sorted(xs, reverse=True)
    val = Fraction(float(value))
    partial, k, total = Fraction(0), 1, Fraction(0)
    for i, ui in enumerate(u, start=1):
        partial += ui
        if ui * i > partial - val:
            k, total = i, partial
    tau = (total - val) / k
    return np.array([float(max(v - tau, 0)) for v in xs])


def _huge_inputs(magnitude: float, dtype, seed: int) -> list[np.ndarray]:
    """Random vectors of the given magnitude, with a near tie at the top and one with an exact tie."""
    rng = np.random.default_rng(seed)
    x = (magnitude * rng.uniform(-1, 1, 6)).astype(dtype)
    near = x.copy()
    top = int(np.argmax(near))
    near[(top + 1) % 6] = near[top] - dtype(0.375)
    tie = x.copy()
    tie[(top + 2) % 6] = tie[top]
    return [x, near, tie, np.array([magnitude, 1.0, -2.0], dtype)]


def _check_simplex(x: np.ndarray, value: float) -> None:
    dtype = x.dtype
    eps = float(np.finfo(dtype).eps)
    y = np.asarray(P.projection_simplex(jnp.asarray(x), value))
    assert y.dtype == dtype
    assert np.all(y >= 0) and np.all(np.isfinite(y))
    tol = 8 * x.size * eps * value
    assert abs(float(np.sum(y, dtype=np.float64)) - value) <= tol
    np.testing.assert_allclose(y, _exact_simplex(x, value), rtol=0, atol=tol)
    if np.sum(np.abs(x), dtype=np.float64) > value:
        l1 = np.asarray(P.projection_l1_ball(jnp.asarray(x), value))
        np.testing.assert_allclose(l1, np.sign(x) * _exact_simplex(np.abs(x), value), rtol=0, atol=tol)


_MAGNITUDES = {np.float64: [1.0, 1e8, 2.0**54, 1e300], np.float32: [1.0, 2.0**25, 3e8, 1e38]}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("value", [1.0, 0.8])
def test_simplex_exact_for_huge_inputs(dtype, value):
    for k, magnitude in enumerate(_MAGNITUDES[dtype]):
        for x in _huge_inputs(magnitude, dtype, k):
            _check_simplex(x, value)


@pytest.mark.slow
@pytest.mark.parametrize("dtype,top", [(np.float64, 300), (np.float32, 38)])
def test_simplex_exact_over_all_magnitudes(dtype, top):
    for e in range(top + 1):
        for value in (1.0, 0.3, 7.0):
            for x in _huge_inputs(10.0**e, dtype, e):
                _check_simplex(x, value)


def test_simplex_huge_input_float32_example():
    y = P.projection_simplex(jnp.array([3e8, 1, -2], jnp.float32))
    assert y.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(y), [1.0, 0.0, 0.0])


def test_linf_prox_huge_input():
    x = np.array([3e30, 1.0, -2.0], np.float32)
    y = np.asarray(prox_linf_norm(jnp.asarray(x), 1.0))
    # Moreau: x minus the projection onto the unit l1 ball, which is e_1 here.
    np.testing.assert_array_equal(y, x - np.array([1.0, 0.0, 0.0], np.float32))


def test_simplex_jacobian_exact_at_huge_magnitude():
    x = jnp.array([1e20, 1e20 + 1e5, 3.0])
    J = np.asarray(jax.jacfwd(P.projection_simplex)(x))
    # Support {1}: the Jacobian is diag(s) - s s^T / |s| = 0.
    np.testing.assert_array_equal(J, np.zeros((3, 3)))
    x = jnp.array([2.0**60, 2.0**60, -5.0])
    s = np.array([1.0, 1.0, 0.0])
    expected = np.diag(s) - np.outer(s, s) / 2
    np.testing.assert_array_equal(np.asarray(jax.jacrev(P.projection_simplex)(x)), expected)
    np.testing.assert_array_equal(np.asarray(jax.jacfwd(P.projection_simplex)(x)), expected)
