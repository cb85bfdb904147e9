"""JAXopt's linear-solve tests (tests/linear_solve_test.py) re-expressed against optdsl.runtime.linear_solve.

Same inputs and assertions; only the calls are spelled the optdsl way: ``materialize(matvec, example)`` for
JAXopt's private ``_materialize_array(matvec, shape)`` (it returns the matrix on the flattened space, reshaped here
to JAXopt's tensor shape). JAXopt's tests of its private ``_make_rmatvec`` and ``_normal_matvec`` helpers have no
counterpart: optdsl keeps the transpose inside ``solve_normal_cg``, tested through it below. Every test runs in
float32 and in float64 (inputs cast to the dtype); see tests/jaxopt_asserts.py for the tolerances. The last tests go
beyond JAXopt's: derivatives of the new dense solvers against central differences, and pytrees.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as onp
import pytest

from jaxopt_asserts import assert_close
from optdsl.runtime import linear_solve


@pytest.fixture(params=[onp.float32, onp.float64], ids=["float32", "float64"])
def dtype(request):
    return request.param


def test_materialize_array(dtype):
    rng = onp.random.RandomState(0)
    A = rng.randn(5, 5).astype(dtype)
    A2 = linear_solve.materialize(lambda x: jnp.dot(A, x), jnp.zeros(5, dtype))
    assert_close(A, A2)

    A = rng.randn(5, 3, 5, 3).astype(dtype)
    A_mat = A.reshape(15, 15)
    A2 = linear_solve.materialize(lambda x: jnp.dot(A_mat, x.ravel()).reshape(5, 3), jnp.zeros((5, 3), dtype))
    assert_close(A, A2.reshape(5, 3, 5, 3), atol=1e-3)


def test_solve_dense(dtype):
    rng = onp.random.RandomState(0)
    A = rng.randn(5, 5).astype(dtype)
    b = rng.randn(5).astype(dtype)

    def matvec(x):
        return jnp.dot(A, x)

    x = linear_solve.solve_lu(matvec, b)
    x2 = jax.numpy.linalg.solve(A, b)
    x3 = linear_solve.solve_iterative_refinement(matvec, b)
    x4 = linear_solve.solve_qr(matvec, b)
    assert_close(x, x2)
    assert_close(x, x3)
    assert_close(x, x4, atol=1e-4)

    A = rng.randn(5, 3, 5, 3).astype(dtype)
    A_mat = A.reshape(15, 15)
    b = rng.randn(5, 3).astype(dtype)

    def matvec(x):  # noqa: F811 - the tensor case of the same test, as in JAXopt
        return jnp.dot(A_mat, x.ravel()).reshape(5, 3)

    x = linear_solve.solve_lu(matvec, b)
    x2 = linear_solve.solve_gmres(matvec, b)
    x3 = linear_solve.solve_iterative_refinement(matvec, b)
    assert_close(x, x2, atol=1e-4)
    assert_close(x, x3, atol=1e-4)


def test_solve_dense_psd(dtype):
    rng = onp.random.RandomState(0)
    A = rng.randn(5, 5)
    A = onp.dot(A.T, A).astype(dtype)
    b = rng.randn(5).astype(dtype)

    def matvec(x):
        return jnp.dot(A, x)

    x = linear_solve.solve_cholesky(matvec, b)
    x2 = jax.numpy.linalg.solve(A, b)
    x3 = linear_solve.solve_inv(matvec, b)
    x4 = linear_solve.solve_qr(matvec, b)
    assert_close(x, x2, atol=1e-2)
    assert_close(x, x3, atol=1e-2)
    assert_close(x, x4, atol=1e-2)


def test_solve_sparse(dtype):
    rng = onp.random.RandomState(0)
    A = rng.randn(5, 5).astype(dtype)
    b = rng.randn(5).astype(dtype)

    def matvec(x):
        return jnp.dot(A, x)

    x = linear_solve.solve_lu(matvec, b)
    x2 = linear_solve.solve_normal_cg(matvec, b)
    x3 = linear_solve.solve_gmres(matvec, b)
    x4 = linear_solve.solve_bicgstab(matvec, b)
    x5 = linear_solve.solve_iterative_refinement(matvec, b)
    x6 = linear_solve.solve_qr(matvec, b)
    for other in (x2, x3, x4, x5, x6):
        assert_close(x, other, atol=1e-4, rtol=1e-4)


def test_solve_sparse_ridge(dtype):
    rng = onp.random.RandomState(0)
    ridge = 1.0
    A = rng.randn(5, 5).astype(dtype)
    b = rng.randn(5).astype(dtype)

    def matvec(x):
        return jnp.dot(A, x)

    def matvec_with_ridge(x):
        return jnp.dot(A + ridge * onp.eye(A.shape[0], dtype=dtype), x)

    x = linear_solve.solve_lu(matvec_with_ridge, b)
    x2 = linear_solve.solve_gmres(matvec, b, ridge=ridge)
    x3 = linear_solve.solve_bicgstab(matvec, b, ridge=ridge)
    x4 = linear_solve.solve_inv(matvec, b, ridge=ridge)
    assert_close(x, x2, atol=1e-4)
    assert_close(x, x3, atol=1e-4)
    assert_close(x, x4, atol=1e-4)

    K = onp.dot(A.T, A)
    Ab = onp.dot(A.T, b)

    def gram_matvec(x):
        return jnp.dot(K, x)

    def gram_matvec_with_ridge(x):
        return jnp.dot(K + ridge * onp.eye(A.shape[0], dtype=dtype), x)

    x = linear_solve.solve_lu(gram_matvec_with_ridge, b)
    x4 = linear_solve.solve_cg(gram_matvec, b, ridge=ridge)
    assert_close(x, x4, atol=1e-4)

    x = linear_solve.solve_lu(gram_matvec_with_ridge, Ab)
    x5 = linear_solve.solve_normal_cg(matvec, b, ridge=ridge)
    assert_close(x, x5, atol=1e-4)


def test_solve_1d(dtype):
    rng = onp.random.RandomState(0)
    A = rng.randn(1, 1).astype(dtype)
    b = rng.randn(1).astype(dtype)
    x = linear_solve.solve_lu(lambda x: jnp.dot(A, x), b)
    assert_close(x, b / A[0, 0])


def test_solve_normal_cg_nonsquare(dtype):
    rng = onp.random.RandomState(0)
    A = rng.randn(2, 3).astype(dtype)
    b = rng.randn(2).astype(dtype)

    def matvec(x):
        return jnp.dot(A, x)

    def normal_matvec(x):
        return jnp.dot(A.T, jnp.dot(A, x))

    with pytest.raises(TypeError):
        linear_solve.solve_normal_cg(matvec, b)
    x = linear_solve.solve_normal_cg(matvec, b, init=jnp.zeros(3, dtype))
    x2 = linear_solve.solve_cg(normal_matvec, jnp.dot(A.T, b))
    assert_close(x, x2)


# --------------------------------------------------------------------------- beyond JAXopt's tests


@pytest.mark.parametrize("name", ["solve_qr", "solve_inv", "solve_iterative_refinement", "solve_normal_cg"])
def test_derivatives_match_central_differences(name):
    solve = getattr(linear_solve, name)
    rng = onp.random.default_rng(0)
    A = rng.standard_normal((4, 4)) + 4 * onp.eye(4)
    b = rng.standard_normal(4)
    dA, db = rng.standard_normal((4, 4)), rng.standard_normal(4)

    def fn(A, b):
        return solve(lambda v: A @ v, b, ridge=0.5)

    _, jvp = jax.jvp(fn, (A, b), (dA, db))
    h = 1e-6
    central = (fn(A + h * dA, b + h * db) - fn(A - h * dA, b - h * db)) / (2 * h)
    onp.testing.assert_allclose(onp.asarray(jvp), onp.asarray(central), atol=1e-7)


@pytest.mark.parametrize("name", ["solve_qr", "solve_inv", "solve_iterative_refinement", "solve_normal_cg", "solve_cg"])
def test_pytree_right_hand_side_keeps_structure_and_float32(name):
    solve = getattr(linear_solve, name)
    b = {"u": jnp.array([1.0, 2.0], jnp.float32), "v": (jnp.array([3.0], jnp.float32),)}
    scale = {"u": jnp.array([2.0, 4.0], jnp.float32), "v": (jnp.array([8.0], jnp.float32),)}
    x = solve(lambda t: jax.tree_util.tree_map(jnp.multiply, scale, t), b)
    assert jax.tree_util.tree_structure(x) == jax.tree_util.tree_structure(b)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree_util.tree_leaves(x))
    assert_close(x, {"u": jnp.array([0.5, 0.5], jnp.float32), "v": (jnp.array([0.375], jnp.float32),)})
