"""Exactness and contracts of the projections beyond the generic table in test_projections.py.

The simplex (and the l1 ball and l-infinity prox built on it) against an exact rational reference for inputs of any
finite magnitude; empty sets (an error when concrete, a documented finite point when traced); the l1 sphere, the
sparse simplex and the Euclidean transport and Birkhoff projections against closed forms, cvxpy + Clarabel and
central differences.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import cvxpy as cp
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


# --------------------------------------------------------------------------- empty sets

_X3 = np.array([1.2, 3.0, 0.7])
_W3 = np.array([1.0, 2.0, 3.0])
_POLY_EMPTY = (np.array([[1.0, 1.0], [0.0, 1.0], [-1.0, 1.0]]), np.array([1.0, 1.0, -1.0]),
               -np.eye(2), np.zeros(2))

#: (name, call on (x, *params), params making the set empty, the point returned under jit).
_EMPTY_CASES = [
    ("box", P.projection_box, (_X3, 1.0, 0.0), np.zeros(3)),
    ("hypercube", P.projection_hypercube, (_X3, -0.5), np.full(3, -0.5)),
    ("linf_ball", P.projection_linf_ball, (_X3, -0.5), np.full(3, -0.5)),
    ("simplex", P.projection_simplex, (_X3, -1.0), np.zeros(3)),
    ("l1_ball", P.projection_l1_ball, (_X3, -1.0), np.zeros(3)),
    ("l2_ball", P.projection_l2_ball, (_X3, -1.0), np.zeros(3)),
    ("l2_sphere", P.projection_l2_sphere, (_X3, -1.0), np.zeros(3)),
    ("hyperplane", P.projection_hyperplane, (_X3, np.zeros(3), 1.0), _X3),
    ("halfspace", P.projection_halfspace, (_X3, np.zeros(3), -1.0), _X3),
    ("affine_set", P.projection_affine_set, (_X3, np.array([[1.0, 0, 0], [1.0, 0, 0]]), np.array([0.0, 1.0])),
     np.array([0.5, 3.0, 0.7])),
    ("box_section_crossed", P.projection_box_section, (_X3, 1.5, 1.0, _W3, 1.0), np.ones(3)),
    ("box_section_c_above", P.projection_box_section, (_X3, 0.0, 1.0, _W3, 10.0), np.ones(3)),
    ("polyhedron", P.projection_polyhedron, (np.ones(2),) + _POLY_EMPTY, np.ones(2)),
]


@pytest.mark.parametrize("name,fn,args,_", _EMPTY_CASES, ids=[c[0] for c in _EMPTY_CASES])
def test_empty_set_raises_for_concrete_inputs(name, fn, args, _):
    with pytest.raises(P.EmptySetError, match=fn.__name__):
        fn(*args)
    with pytest.raises(ValueError):
        fn(*args)


@pytest.mark.parametrize("name,fn,args,expected", _EMPTY_CASES, ids=[c[0] for c in _EMPTY_CASES])
def test_empty_set_traced_returns_the_documented_finite_point(name, fn, args, expected):
    jitted = jax.jit(fn)
    np.testing.assert_allclose(np.asarray(jitted(*args)), expected, atol=1e-12)
    grads = jax.grad(lambda *a: jnp.sum(jitted(*a) ** 2), argnums=tuple(range(len(args))))(
        *[jnp.asarray(a, jnp.float64) for a in args])
    assert all(np.all(np.isfinite(np.asarray(g))) for g in grads)


def test_feasible_boundary_cases_do_not_raise():
    np.testing.assert_allclose(np.asarray(P.projection_box_section(_X3, 0.0, 1.0, _W3, 6.0)), np.ones(3))
    np.testing.assert_allclose(np.asarray(P.projection_box(_X3, 1.0, 1.0)), np.ones(3))
    np.testing.assert_allclose(np.asarray(P.projection_hyperplane(_X3, np.zeros(3), 0.0)), _X3)
    np.testing.assert_allclose(np.asarray(P.projection_simplex(_X3, 0.0)), np.zeros(3))


# --------------------------------------------------------------------------- l1 sphere, sparse simplex, transport


def _central_jvp(fn, args, tangents, h=1e-6):
    plus = fn(*[a + h * t for a, t in zip(args, tangents)])
    minus = fn(*[a - h * t for a, t in zip(args, tangents)])
    return (np.asarray(plus) - np.asarray(minus)) / (2 * h)


def _check_derivatives(fn, args, tangents, atol):
    args = [jnp.asarray(a) for a in args]
    y, jvp = jax.jvp(fn, args, [jnp.asarray(t) for t in tangents])
    np.testing.assert_allclose(np.asarray(jvp), _central_jvp(fn, args, tangents), atol=atol)
    cotangent = np.random.default_rng(7).standard_normal(y.shape)
    pulled = jax.vjp(fn, *args)[1](jnp.asarray(cotangent))
    np.testing.assert_allclose(sum(float(jnp.vdot(p, t)) for p, t in zip(pulled, tangents)),
                               float(np.vdot(cotangent, jvp)), rtol=1e-10, atol=1e-12)


def test_l1_sphere_matches_the_signed_simplex_and_maps_zero_onto_the_sphere():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(7)
    y = np.asarray(P.projection_l1_sphere(x, 2.5))
    np.testing.assert_allclose(np.sum(np.abs(y)), 2.5, rtol=1e-14)
    np.testing.assert_allclose(y, np.sign(x) * _exact_simplex(np.abs(x), 2.5), atol=1e-14)
    inside = 0.01 * x  # inside the ball: the sphere pushes it out
    np.testing.assert_allclose(np.sum(np.abs(np.asarray(P.projection_l1_sphere(inside, 2.5)))), 2.5, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(P.projection_l1_sphere(np.zeros(4), 2.0)), np.full(4, 0.5))
    _check_derivatives(P.projection_l1_sphere, (x, 2.5), (rng.standard_normal(7), 0.3), atol=1e-8)


def _nearest_sparse(row: np.ndarray, k: int, value: float) -> np.ndarray:
    """Brute force: the exact simplex projection on every support of size <= k; the nearest wins."""
    best_dist, best = np.inf, None
    for size in range(1, k + 1):
        for support in itertools.combinations(range(row.size), size):
            cand = np.zeros(row.size)
            cand[list(support)] = _exact_simplex(row[list(support)], value)
            dist = np.sum((row - cand) ** 2)
            if dist < best_dist:
                best_dist, best = dist, cand
    return best


def test_sparse_simplex_is_the_nearest_k_sparse_point():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 6))
    y = np.asarray(P.projection_sparse_simplex(x, 2, 1.5))
    for row, out in zip(x, y):
        np.testing.assert_allclose(out, _nearest_sparse(row, 2, 1.5), atol=1e-14)
        assert np.count_nonzero(out) <= 2
    _check_derivatives(lambda v, s: P.projection_sparse_simplex(v, 3, s), (x[0], 1.5),
                       (rng.standard_normal(6), 0.2), atol=1e-8)
    with pytest.raises(ValueError, match="max_nz"):
        P.projection_sparse_simplex(x, 7)


@pytest.fixture(scope="module")
def transport_case():
    rng = np.random.default_rng(2)
    x = 3 * rng.standard_normal((4, 5))
    a = rng.uniform(0.5, 1.5, 4)
    b = rng.uniform(0.5, 1.5, 5)
    return x, a, b * a.sum() / b.sum()


def test_transport_matches_clarabel(transport_case):
    x, a, b = transport_case
    plan = cp.Variable(x.shape)
    cp.Problem(cp.Minimize(cp.sum_squares(plan - x)), [plan >= 0, cp.sum(plan, 1) == a, cp.sum(plan, 0) == b]).solve(
        solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    got = np.asarray(P.projection_transport(x, a, b))
    np.testing.assert_allclose(got, plan.value, atol=1e-7)
    np.testing.assert_allclose(got.sum(1), a, atol=1e-14)
    np.testing.assert_allclose(got.sum(0), b, atol=1e-14)
    assert got.min() >= 0


def test_transport_derivatives_match_central_differences(transport_case):
    x, a, b = transport_case
    rng = np.random.default_rng(3)
    da, db = rng.standard_normal(4), rng.standard_normal(5)
    db += (da.sum() - db.sum()) / 5  # mass preserving
    _check_derivatives(P.projection_transport, (x, a, b), (rng.standard_normal(x.shape), da, db), atol=1e-7)


@pytest.mark.slow
def test_transport_reaches_its_marginals_over_random_shapes_and_scales():
    project = jax.jit(P.projection_transport)
    for seed in range(60):
        rng = np.random.default_rng(seed)
        n, m = rng.integers(1, 9, 2)
        x = rng.standard_normal((n, m)) * rng.choice([1e-3, 1.0, 10.0, 100.0])
        a = rng.uniform(size=n) * rng.choice([1.0, 1e3])
        b = rng.uniform(size=m)
        b *= a.sum() / b.sum()
        plan = np.asarray(project(x, a, b))
        tol = 64 * np.finfo(float).eps * (np.abs(x).max() + a.max()) * (n + m)
        assert plan.min() >= 0
        np.testing.assert_allclose(plan.sum(1), a, atol=tol)
        np.testing.assert_allclose(plan.sum(0), b, atol=tol)


def test_birkhoff_keeps_a_doubly_stochastic_matrix_and_float32():
    doubly = np.array([[0.6, 0.4], [0.4, 0.6]])
    np.testing.assert_allclose(np.asarray(P.projection_birkhoff(doubly)), doubly, atol=1e-15)
    x = np.random.default_rng(4).uniform(size=(5, 5)).astype(np.float32)
    plan = P.projection_birkhoff(x)
    assert plan.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(plan).sum(0), np.ones(5), atol=4e-7)
    np.testing.assert_allclose(np.asarray(plan).sum(1), np.ones(5), atol=4e-7)
    with pytest.raises(ValueError, match="square"):
        P.projection_birkhoff(np.ones((2, 3)))


def test_transport_empty_polytope(transport_case):
    x, a, b = transport_case
    with pytest.raises(P.EmptySetError, match="transport"):
        P.projection_transport(x, a, 2 * b)
    plan = np.asarray(jax.jit(P.projection_transport)(x, a, 2 * b))  # traced: b rescaled to the mass of a
    np.testing.assert_allclose(plan, np.asarray(P.projection_transport(x, a, b)), atol=1e-13)


# --------------------------------------------------------------------------- dtype and pytrees


def test_float32_point_stays_float32_with_float64_set_parameters():
    x = np.array([0.3, -1.2, 2.5], np.float32)
    ones = np.ones(3)
    outputs = [P.projection_box(x, -ones, ones), P.projection_hyperplane(x, ones, 1.0),
               P.projection_affine_set(x, ones[None], np.ones(1)), P.projection_l2_ball(x, np.float64(1.0)),
               P.projection_simplex(x, np.float64(2.0))]
    assert [y.dtype for y in outputs] == [jnp.float32] * len(outputs)
    np.testing.assert_allclose(np.asarray(outputs[0]), [0.3, -1.0, 1.0], rtol=1e-7)


def test_pytree_is_projected_as_one_vector_and_keeps_leaf_dtypes():
    tree = {"w": np.array([[3.0, 0.0], [0.0, 0.0]], np.float32), "b": (np.array([4.0]),)}
    y = P.projection_l2_ball(tree, 1.0)
    assert y["w"].dtype == jnp.float32 and y["b"][0].dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(y["w"]), [[0.6, 0.0], [0.0, 0.0]], rtol=1e-7)
    np.testing.assert_allclose(np.asarray(y["b"][0]), [0.8], rtol=1e-15)
    grads = jax.grad(lambda t: P.projection_simplex(t, 1.0)[0][0])((jnp.array([0.5, 0.1]), jnp.array([0.4])))
    np.testing.assert_allclose(np.concatenate([np.asarray(g) for g in grads]), [2 / 3, -1 / 3, -1 / 3], rtol=1e-14)
