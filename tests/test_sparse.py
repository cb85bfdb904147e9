"""Sparse (BCOO) parameter values: a 10⁴ × 10³ lasso solved and differentiated without a dense matrix."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse
from jax.experimental import sparse

import optdsl as od
from optdsl.modeling import ModelingError
from optdsl.runtime.compiled import ParameterError

jax.config.update("jax_enable_x64", True)

M, N, DENSITY = 10_000, 1_000, 0.002


@pytest.fixture(scope="module")
def lasso():
    rng = np.random.default_rng(0)
    host = scipy.sparse.random(M, N, density=DENSITY, random_state=rng, data_rvs=rng.standard_normal, format="coo")
    A_sp = sparse.BCOO((jnp.asarray(host.data), jnp.asarray(np.stack([host.row, host.col], 1))), shape=(M, N))
    truth = np.where(rng.random(N) < 0.05, rng.normal(size=N), 0.0)
    b0 = host @ truth + 0.1 * rng.normal(size=M)
    x = od.Variable(N, name="x")
    A, b, lam = od.Parameter((M, N), name="A"), od.Parameter(M, name="b"), od.Parameter(nonneg=True, name="lam")
    solve = od.Problem(od.Minimize(0.5 * od.sum_squares(A @ x - b) + lam * od.norm1(x))).compile()
    return solve, A_sp, host.tocsr(), jnp.asarray(b0)


def test_solution_meets_the_lasso_optimality_conditions(lasso):
    solve, A_sp, host, b0 = lasso
    lam = 2.0
    sol = solve(A=A_sp, b=b0, lam=lam)
    assert sol.status_name() == "solved"
    x = np.asarray(sol.x)
    # 0 ∈ Aᵀ(Ax − b) + λ ∂‖x‖₁: the correlation equals −λ sign(x) on the support, and |·| ≤ λ off it.
    corr = host.T @ (host @ x - np.asarray(b0))
    support = np.abs(x) > 1e-9
    assert 10 < support.sum() < N
    np.testing.assert_allclose(corr[support], -lam * np.sign(x[support]), atol=1e-6)
    assert np.max(np.abs(corr[~support])) <= lam + 1e-6


def test_gradients_match_central_differences_and_never_densify(lasso):
    solve, A_sp, _, b0 = lasso
    rng = np.random.default_rng(1)
    db = jnp.asarray(rng.normal(size=M))
    dA = jnp.asarray(rng.normal(size=A_sp.data.shape))

    def loss(lam, b, data):
        A = sparse.BCOO((data, A_sp.indices), shape=A_sp.shape)
        x = solve(A=A, b=b, lam=lam).x
        return jnp.sum(x ** 2) + jnp.sum(jnp.sin(x))

    value_and_grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))
    _, (g_lam, g_b, g_data) = value_and_grad(2.0, b0, A_sp.data)
    value = lambda *args: value_and_grad(*args)[0]  # noqa: E731
    h = 1e-5
    fd_lam = (value(2.0 + h, b0, A_sp.data) - value(2.0 - h, b0, A_sp.data)) / (2 * h)
    fd_b = (value(2.0, b0 + h * db, A_sp.data) - value(2.0, b0 - h * db, A_sp.data)) / (2 * h)
    fd_A = (value(2.0, b0, A_sp.data + h * dA) - value(2.0, b0, A_sp.data - h * dA)) / (2 * h)
    np.testing.assert_allclose(g_lam, fd_lam, rtol=1e-6)
    np.testing.assert_allclose(jnp.vdot(g_b, db), fd_b, rtol=1e-6)
    np.testing.assert_allclose(jnp.vdot(g_data, dA), fd_A, rtol=1e-6)
    # Nothing in the program (forward solve, backward linear solve) holds an M x N dense array.
    jaxpr = jax.make_jaxpr(jax.value_and_grad(loss, argnums=(0, 1, 2)))(2.0, b0, A_sp.data)
    sizes, prims = [], set()

    def walk(jx):
        for eqn in jx.eqns:
            prims.add(eqn.primitive.name)
            sizes.extend(int(np.prod(v.aval.shape)) for v in eqn.outvars if hasattr(v.aval, "shape"))
            for param in eqn.params.values():
                for inner in (param if isinstance(param, (tuple, list)) else [param]):
                    core = getattr(inner, "jaxpr", inner)
                    if hasattr(core, "eqns"):
                        walk(core)

    walk(jaxpr.jaxpr)
    assert "bcoo_todense" not in prims
    assert M <= max(sizes) < M * N // 100  # vectors of length M are there; no matrix is


def test_sparse_value_outside_a_product_is_a_clear_error():
    A = od.Parameter((3, 2), name="A")
    x = od.Variable(2, name="x")
    solve = od.Problem(od.Minimize(od.sum_squares(A @ x) + od.sum_squares(A))).compile()
    with pytest.raises(ModelingError, match=r"sum_squares\(A\) receives a sparse matrix.*matrix products"):
        solve(A=sparse.BCOO.fromdense(np.ones((3, 2))))


def test_parameter_shape_is_checked_for_sparse_values():
    A = od.Parameter((3, 2), name="A")
    x = od.Variable(2, name="x")
    solve = od.Problem(od.Minimize(od.sum_squares(A @ x - 1))).compile()
    with pytest.raises(ParameterError, match=r"'A' has shape \(2, 3\), expected \(3, 2\)"):
        solve(A=sparse.BCOO.fromdense(np.ones((2, 3))))
