"""JAXopt's projection tests (tests/projection_test.py) re-expressed against optdsl.runtime.projections.

Same inputs and assertions; only the calls are spelled the optdsl way: set parameters are positional arguments
instead of a ``hyperparams`` tuple (``projection_box(x, L, U)`` for ``projection_box(x, (L, U))``), the transport
projections take ``(x, a, b)`` (the KL one a cost, ``-sim``, and ``epsilon = 1``), and the QP reference of the box
section test is cvxpy + Clarabel instead of JAXopt's OSQP. Every test runs in float32 and in float64
(inputs cast to the dtype; the float64 run of the five tests that compile an iterative solver is marked slow);
see tests/jaxopt_asserts.py for the tolerances.
"""

from __future__ import annotations

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as onp
import pytest

from jaxopt_asserts import assert_close, assert_equal
from optdsl.runtime import projections as projection


@pytest.fixture(params=[onp.float32, onp.float64], ids=["float32", "float64"])
def dtype(request):
    return request.param


#: For the tests that compile an iterative solver and its derivatives (several seconds per dtype): float32, JAX's
#: default, in the default run; float64 with ``-m slow``.
HEAVY = pytest.mark.parametrize("dtype", [onp.float32, pytest.param(onp.float64, marks=pytest.mark.slow)],
                                ids=["float32", "float64"])


def test_projection_non_negative(dtype):
    x = jnp.array([-1.0, 2.0, 3.0], dtype)
    expected = jnp.array([0, 2.0, 3.0], dtype)
    assert_equal(projection.projection_non_negative(x), expected)
    assert_equal(projection.projection_non_negative((x, x)), (expected, expected))
    tree_x = (-1.0, {"k1": 1.0, "k2": (1.0, 1.0)}, 1.0)
    tree_expected = (0.0, {"k1": 1.0, "k2": (1.0, 1.0)}, 1.0)
    assert_close(projection.projection_non_negative(tree_x), tree_expected)


def test_projection_box(dtype):
    x = jnp.array([-1.0, 2.0, 3.0], dtype)
    expected = jnp.array([0, 2.0, 2.0], dtype)
    L, U = 0.0, 2.0
    assert_equal(projection.projection_box(x, L, U), expected)
    assert_equal(projection.projection_box((x, x), (L, L), (U, U)), (expected, expected))

    tree_x = (-1.0, {"k1": 2.0, "k2": (2.0, 3.0)}, 3.0)
    tree_expected = (0.0, {"k1": 2.0, "k2": (2.0, 2.0)}, 2.0)
    U_tree = (2.0, {"k1": 2.0, "k2": (2.0, 2.0)}, 2.0)
    L_tree = (0.0, {"k1": 0.0, "k2": (0.0, 0.0)}, 0.0)
    assert_close(projection.projection_box(tree_x, L_tree, U_tree), tree_expected)

    params = (jnp.ones(len(x), dtype) * L, jnp.ones(len(x), dtype) * U)
    assert_equal(projection.projection_box(x, *params), expected)
    assert_equal(projection.projection_box((x, x), (params[0], params[0]), (params[1], params[1])),
                 (expected, expected))


def test_projection_hypercube(dtype):
    x = jnp.array([-1.0, 2.0, 0.5], dtype)
    assert_equal(projection.projection_hypercube(x), jnp.array([0, 1.0, 0.5], dtype))
    assert_equal(projection.projection_hypercube(x, 0.8), jnp.array([0, 0.8, 0.5], dtype))


def test_projection_simplex(dtype):
    rng = onp.random.RandomState(0)
    for scale in [1.0, 1e9]:
        for _ in range(10):
            x = (scale * rng.randn(50)).astype(dtype)
            p = projection.projection_simplex(x)
            assert_close(jnp.sum(p), dtype(1.0))
            assert jnp.all(0 <= p) and jnp.all(p <= 1)
            p = projection.projection_simplex(x, 0.8)
            assert_close(jnp.sum(p), dtype(0.8))
            assert jnp.all(0 <= p) and jnp.all(p <= 0.8)
    p = projection.projection_simplex(jnp.array([0.0, 0.0, -jnp.inf], dtype))
    assert_close(p, jnp.array([0.5, 0.5, 0.0], dtype))


def test_projection_simplex_jacobian(dtype):
    rng = onp.random.RandomState(0)
    for scale in [1.0, 1e9]:
        x = (scale * rng.rand(5)).astype(dtype)
        v = (scale * rng.randn(5)).astype(dtype)
        J_rev = jax.jacrev(projection.projection_simplex)(x)
        J_fwd = jax.jacfwd(projection.projection_simplex)(x)
        p = projection.projection_simplex(x)
        support = (p > 0).astype(jnp.int32)
        cardinality = jnp.count_nonzero(support)
        J_true = (jnp.diag(support) - jnp.outer(support, support) / cardinality).astype(dtype)
        assert_close(J_true, J_fwd)
        assert_close(J_true, J_rev)
        vJ, = jax.vjp(projection.projection_simplex, x)[1](v)
        assert_close(vJ, jnp.dot(v, J_true))
        Jv = jax.jvp(projection.projection_simplex, (x,), (v,))[1]
        assert_close(Jv, jnp.dot(J_true, v))


def test_projection_simplex_vmap(dtype):
    rng = onp.random.RandomState(0)
    X = rng.randn(3, 50).astype(dtype)
    P = jax.vmap(projection.projection_simplex)(X)
    assert_close(jnp.sum(P, axis=1), jnp.ones(len(X), dtype))
    assert jnp.all(0 <= P) and jnp.all(P <= 1)
    P = jax.vmap(projection.projection_simplex)(X, 0.8 * jnp.ones(len(X), dtype))
    assert_close(jnp.sum(P, axis=1), 0.8 * jnp.ones(len(X), dtype))
    assert jnp.all(0 <= P) and jnp.all(P <= 0.8)


def test_projection_simplex_vmap_diff(dtype):
    proj = jax.vmap(projection.projection_simplex)

    def fun(X):
        return jnp.sum(proj(X) ** 2)

    rng = onp.random.RandomState(0)
    X = rng.rand(4, 5).astype(dtype)
    U = rng.rand(4, 5)
    U /= onp.sqrt(onp.sum(U ** 2))
    U = U.astype(dtype)
    eps = 1e-3
    dir_deriv_num = (fun(X + eps * U) - fun(X - eps * U)) / (2 * eps)
    dir_deriv = jnp.vdot(jax.grad(fun)(X), U)
    assert_close(dir_deriv, dir_deriv_num, atol=1e-3)


def test_projection_l1_sphere(dtype):
    x = onp.random.RandomState(0).randn(50).astype(dtype)
    p = projection.projection_l1_sphere(x)
    assert_close(jnp.sum(jnp.abs(p)), dtype(1.0))
    radius = 3.21
    p = projection.projection_l1_sphere(x, radius)
    assert_close(jnp.sum(jnp.abs(p)), dtype(radius))


def _check_projection_ball(ball_fun, sphere_fun, norm, check_pytree, dtype):
    x = onp.random.RandomState(0).randn(50).astype(dtype)
    norm_value = jnp.linalg.norm(x, ord=norm)

    big_radius = norm_value * 2
    assert_close(x, ball_fun(x, big_radius))
    assert_close(jax.jacrev(ball_fun)(x, big_radius), jnp.eye(len(x), dtype=dtype))
    assert_close(jax.jacrev(ball_fun, argnums=1)(x, big_radius), jnp.zeros_like(x))

    assert_close(x, ball_fun(x, norm_value))
    assert_close(jax.jacrev(ball_fun)(x, norm_value), jnp.eye(len(x), dtype=dtype))
    assert_close(jax.jacrev(ball_fun, argnums=1)(x, norm_value), jnp.zeros_like(x))

    small_radius = norm_value / 2
    p = ball_fun(x, small_radius)
    assert_close(jnp.linalg.norm(p, ord=norm), small_radius)
    assert_close(jax.jacrev(ball_fun)(x, small_radius), jax.jacrev(sphere_fun)(x, small_radius))
    assert_close(jax.jacrev(ball_fun, argnums=1)(x, small_radius),
                 jax.jacrev(sphere_fun, argnums=1)(x, small_radius))

    if check_pytree:
        p = ball_fun((x[:25], x[25:]), norm_value)
        assert_close(x[:25], p[0])
        assert_close(x[25:], p[1])


def test_projection_l1_ball(dtype):
    _check_projection_ball(projection.projection_l1_ball, projection.projection_l1_sphere, 1, False, dtype)


def test_projection_l2_sphere(dtype):
    x = onp.random.RandomState(0).randn(50).astype(dtype)
    p = projection.projection_l2_sphere(x)
    assert_close(jnp.sum(p ** 2), dtype(1.0))
    radius = 3.21
    p = projection.projection_l2_sphere(x, radius)
    assert_close(jnp.sqrt(jnp.sum(p ** 2)), dtype(radius))


def test_projection_l2_ball(dtype):
    _check_projection_ball(projection.projection_l2_ball, projection.projection_l2_sphere, 2, True, dtype)


def test_projection_linf_ball(dtype):
    x = onp.random.RandomState(0).randn(50).astype(dtype)
    linf_norm = jnp.max(jnp.abs(x))
    assert_close(x, projection.projection_linf_ball(x, linf_norm))
    p = projection.projection_linf_ball(x, linf_norm * 0.5)
    assert_close(jnp.max(jnp.abs(p)), linf_norm * 0.5)


def test_projection_hyperplane(dtype):
    rng = onp.random.RandomState(0)
    x = rng.randn(50).astype(dtype)
    a = rng.randn(50).astype(dtype)
    b = 1.0
    p = projection.projection_hyperplane(x, a, b)
    assert_close(jnp.dot(a, p), dtype(b))

    tree_x = (1.0, {"k1": 2.0, "k2": (2.0, 1.0)}, 2.0)
    tree_a = (1.0, {"k1": 1.0, "k2": (1.0, 0.0)}, 1.0)
    p = projection.projection_hyperplane(tree_x, tree_a, b)
    expected_p = (-0.5, {"k1": 0.5, "k2": (0.5, 1.0)}, 0.5)
    assert_close(expected_p, p)


def test_projection_halfspace(dtype):
    rng = onp.random.RandomState(0)

    def leaf():
        return rng.randn(1).astype(dtype)

    tree_x = (leaf(), {"k1": leaf(), "k2": (leaf(), leaf())}, leaf())
    tree_a = (leaf(), {"k1": leaf(), "k2": (leaf(), leaf())}, leaf())
    p = projection.projection_halfspace(tree_x, tree_a, 10000)
    assert_close(tree_x, p)
    p = projection.projection_halfspace(tree_x, tree_a, -10000)
    p_hyper = projection.projection_hyperplane(tree_x, tree_a, -10000)
    assert_close(p_hyper, p)


def test_projection_affine_set(dtype):
    rng = onp.random.RandomState(0)
    x = rng.randn(5).astype(dtype)
    A = rng.randn(3, 5).astype(dtype)
    b = rng.randn(3).astype(dtype)
    p = projection.projection_affine_set(x, A, b)
    assert_close(jnp.dot(A, p), b, atol=1e-3, rtol=1e-3)
    jac_x = jax.jacrev(projection.projection_affine_set, argnums=0)(x, A, b)
    assert jac_x.shape == (5, 5)
    jac_A, jac_b = jax.jacrev(projection.projection_affine_set, argnums=(1, 2))(x, A, b)
    assert jac_A.shape == (5, 3, 5)
    assert jac_b.shape == (5, 3)


@HEAVY
def test_projection_polyhedron(dtype):
    rng = onp.random.RandomState(0)
    x = rng.randn(5).astype(dtype)
    A = rng.randn(3, 5).astype(dtype)
    b = rng.randn(3).astype(dtype)
    G = rng.randn(2, 5).astype(dtype)
    h = rng.randn(2).astype(dtype)
    p = projection.projection_polyhedron(x, A, b, G, h)
    assert_close(jnp.dot(A, p), b, atol=1e-3, rtol=1e-3)
    jac_x = jax.jacrev(projection.projection_polyhedron, argnums=0)(x, A, b, G, h)
    assert jac_x.shape == (5, 5)
    jac_A, jac_b, jac_G, jac_h = jax.jacrev(projection.projection_polyhedron, argnums=(1, 2, 3, 4))(x, A, b, G, h)
    assert jac_A.shape == (5, 3, 5)
    assert jac_b.shape == (5, 3)
    assert jac_G.shape == (5, 2, 5)
    assert jac_h.shape == (5, 2)


@HEAVY
def test_projection_polyhedron_infeasible(dtype):
    def proj(x):
        A = jnp.array([[1.0, 1.0], [0.0, 1.0], [-1.0, 1.0]], dtype)
        b = jnp.array([1.0, 1.0, -1.0], dtype)
        G = jnp.array([[-1.0, 0.0], [0.0, -1.0]], dtype)
        h = jnp.array([0.0, 0.0], dtype)
        return projection.projection_polyhedron(x, A, b, G, h)

    with pytest.raises(ValueError):
        proj(jnp.zeros(2, dtype))


def _qp_projection(x, A, b, G, h):
    """``argmin ||p - x||^2`` s.t. ``A p = b``, ``G p <= h`` by cvxpy + Clarabel (JAXopt's test uses its OSQP)."""
    p = cp.Variable(x.shape[0])
    cp.Problem(cp.Minimize(cp.sum_squares(p - onp.asarray(x, float))),
               [onp.asarray(A, float) @ p == onp.asarray(b, float),
                onp.asarray(G, float) @ p <= onp.asarray(h, float)]).solve(solver="CLARABEL")
    return p.value


def test_projection_box_section(dtype):
    x = jnp.array([1.2, 3.0, 0.7], dtype)
    w = jnp.array([1.0, 2.0, 3.0], dtype)
    alpha = jnp.zeros_like(x)
    beta = jnp.ones_like(x) * 0.8
    c = 1.0
    p = projection.projection_box_section(x, alpha, beta, w, c)
    assert_close(jnp.dot(w, p), dtype(c), atol=1e-5)
    assert jnp.all(alpha <= p) and jnp.all(p <= beta)

    A = jnp.array([w])
    b = jnp.array([c], dtype)
    G = jnp.concatenate((-jnp.eye(len(x), dtype=dtype), jnp.eye(len(x), dtype=dtype)))
    h = jnp.concatenate((alpha, beta))
    p2 = _qp_projection(x, A, b, G, h)
    assert_close(p, p2.astype(dtype), atol=1e-3)


def test_projection_box_section_infeasible(dtype):
    x = jnp.array([1.2, 3.0, 0.7], dtype)
    w = jnp.array([1.0, 2.0, 3.0], dtype)
    alpha = jnp.zeros_like(x)
    beta = jnp.ones_like(x)
    with pytest.raises(ValueError):
        projection.projection_box_section(x, alpha + 1.5, beta, w, 1.0)
    with pytest.raises(ValueError):
        projection.projection_box_section(x, alpha, beta - 1.5, w, 1.0)


def test_projection_box_section_simplex(dtype):
    x = jnp.array(onp.random.RandomState(0).rand(5).astype(dtype))
    w = jnp.ones_like(x)
    alpha = jnp.zeros_like(x)
    beta = jnp.ones_like(x)
    params = (alpha, beta, w, 1.0)
    p = projection.projection_simplex(x)
    p2 = projection.projection_box_section(x, *params)
    assert_close(p, p2, atol=1e-4)
    J = jax.jacrev(projection.projection_simplex)(x)
    J2 = jax.jacrev(projection.projection_box_section)(x, *params)
    assert_close(J, J2)


def _sinkhorn(cost_matrix, marginals_a, marginals_b, maxiter=1000):
    """Plain Sinkhorn iterations in numpy (epsilon = 1) for the entropic plan with marginals ``(a, b)``."""
    kernel = onp.exp(-cost_matrix)
    u = onp.ones_like(marginals_a)
    for _ in range(maxiter):
        v = marginals_b / (kernel.T @ u)
        u = marginals_a / (kernel @ v)
    return u[:, None] * kernel * v[None, :]


@HEAVY
def test_projection_transport(dtype):
    rng = onp.random.RandomState(0)
    sim_matrix = rng.rand(5, 6)
    marginals_a = rng.rand(5)
    marginals_a /= onp.sum(marginals_a)
    marginals_b = rng.rand(6)
    marginals_b /= onp.sum(marginals_b)
    sim, a, b = (v.astype(dtype) for v in (sim_matrix, marginals_a, marginals_b))

    T1 = projection.projection_transport(sim, a, b)
    T2 = projection.kl_projection_transport(-sim, a, b, 1.0)
    for T in (T1, T2):
        assert T.shape == (5, 6)
        assert_close(jnp.sum(T, axis=1), a, atol=1e-3)
        assert_close(jnp.sum(T, axis=0), b, atol=1e-5)
        assert_close(jnp.sum(T), dtype(1.0))
    T3 = _sinkhorn(-sim_matrix, marginals_a, marginals_b)
    assert_close(T2, T3.astype(dtype), atol=1e-4)


@HEAVY
def test_projection_birkhoff(dtype):
    rng = onp.random.RandomState(0)
    sim_matrix = rng.rand(5, 5)
    sim_matrix = (0.5 * (sim_matrix + sim_matrix.T)).astype(dtype)
    P1 = projection.projection_birkhoff(sim_matrix)
    P2 = projection.kl_projection_birkhoff(-sim_matrix, 1.0)
    for P in (P1, P2):
        assert P.shape == (5, 5)
        assert_close(jnp.sum(P, axis=1), jnp.ones(5, dtype), atol=1e-3)
        assert_close(jnp.sum(P, axis=0), jnp.ones(5, dtype))
    doubly_stochastic_matrix = jnp.array([[0.6, 0.4], [0.4, 0.6]], dtype)
    assert_close(doubly_stochastic_matrix, projection.projection_birkhoff(doubly_stochastic_matrix))


@HEAVY
def test_projection_sparse_simplex(dtype):
    def top_k(x, k):
        """Keep the top-k entries of x and put -inf elsewhere."""
        _, top_k_indices = jax.lax.top_k(x, k)
        log_mask = jnp.log(jax.nn.one_hot(top_k_indices, len(x), dtype=x.dtype))
        return jnp.max(x[None, :] + log_mask, axis=0)

    random_data = jax.random.normal(jax.random.PRNGKey(0), (100,), dtype)
    for value in [1.0, 2.0]:
        def ground_truth_composition(x):
            return projection.projection_simplex(top_k(x, k=10), value=value)

        def exact(x):
            return projection.projection_sparse_simplex(x, max_nz=10, value=value, use_approx_max_nz=False)

        def approx(x):
            return projection.projection_sparse_simplex(x, max_nz=10, value=value, use_approx_max_nz=True)

        assert_close(exact(random_data), ground_truth_composition(random_data))
        assert_close(approx(random_data), ground_truth_composition(random_data))
        assert_close(jax.jacobian(exact)(random_data), jax.jacobian(ground_truth_composition)(random_data))
        assert_close(jax.jacobian(approx)(random_data), jax.jacobian(ground_truth_composition)(random_data))
