"""Every linear solver against jnp.linalg.solve, alone and as custom_root's ``solve=``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optdsl.runtime import linear_solve as ls
from optdsl.runtime.implicit_diff import custom_root

GENERAL = ["gmres", "bicgstab", "lu", "normal_cg", "auto"]
SPD = ["cg", "cholesky"] + GENERAL


def _spd(n: int, seed: int) -> np.ndarray:
    M = np.random.default_rng(seed).normal(size=(n, n))
    return M @ M.T + n * np.eye(n)


def _nonsymmetric(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n)) + 2 * np.sqrt(n) * np.eye(n)


def _solve(name, A, b, **kw):
    A = jnp.asarray(A)
    return ls.SOLVERS[name](lambda v: A @ v, jnp.asarray(b), **kw)


@pytest.mark.parametrize("name", SPD)
def test_spd_system(name):
    A, b = _spd(12, 0), np.random.default_rng(1).normal(size=12)
    np.testing.assert_allclose(_solve(name, A, b), np.linalg.solve(A, b), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("name", GENERAL)
def test_nonsymmetric_system(name):
    A, b = _nonsymmetric(15, 2), np.random.default_rng(3).normal(size=15)
    np.testing.assert_allclose(_solve(name, A, b), np.linalg.solve(A, b), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("name", SPD)
def test_ridge_term(name):
    A, b = _spd(8, 4), np.random.default_rng(5).normal(size=8)
    expected = np.linalg.solve(A + 0.7 * np.eye(8), b)
    if name == "normal_cg":  # JAXopt's meaning: the ridge regularises the normal equations
        expected = np.linalg.solve(A.T @ A + 0.7 * np.eye(8), A.T @ b)
    np.testing.assert_allclose(_solve(name, A, b, ridge=0.7), expected, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("name", ["cg", "gmres", "bicgstab"])
def test_maxiter_and_tol_are_honoured(name):
    A, b = _spd(40, 6), np.random.default_rng(7).normal(size=40)
    exact = np.linalg.solve(A, b)
    rough = _solve(name, A, b, maxiter=2, init=jnp.zeros(40))
    loose = _solve(name, A, b, tol=1e-3)
    assert np.linalg.norm(rough - exact) > 1e-6  # stopped early
    assert np.linalg.norm(A @ loose - b) <= 1.01e-3 * np.linalg.norm(b)


def test_gmres_with_restarts_converges():
    A, b = _nonsymmetric(60, 8), np.random.default_rng(9).normal(size=60)
    x = _solve("gmres", A, b, restart=5)
    np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("name", ["cg", "gmres", "lu", "cholesky"])
def test_pytree_right_hand_side(name):
    A = jnp.asarray(_spd(7, 10))

    def matvec(tree):
        v = jnp.concatenate([tree["a"], tree["b"].ravel()])
        out = A @ v
        return {"a": out[:3], "b": out[3:].reshape(2, 2)}

    b = {"a": jnp.arange(3.0), "b": jnp.ones((2, 2))}
    x = ls.SOLVERS[name](matvec, b)
    expected = np.linalg.solve(np.asarray(A), np.concatenate([np.arange(3.0), np.ones(4)]))
    np.testing.assert_allclose(np.concatenate([x["a"], x["b"].ravel()]), expected, rtol=1e-8)


@pytest.mark.parametrize("name", ["cg", "gmres", "bicgstab", "lu"])
def test_jit_and_vmap(name):
    mats = jnp.stack([jnp.asarray(_spd(6, s)) for s in range(3)])
    rhs = jnp.asarray(np.random.default_rng(11).normal(size=(3, 6)))
    solve = jax.jit(jax.vmap(lambda A, b: ls.SOLVERS[name](lambda v: A @ v, b)))
    np.testing.assert_allclose(solve(mats, rhs), np.linalg.solve(mats, rhs[..., None])[..., 0], rtol=1e-8)


@pytest.mark.parametrize("name", ["cg", "gmres"])
def test_float32(name):
    A, b = _spd(10, 12).astype(np.float32), np.random.default_rng(13).normal(size=10).astype(np.float32)
    x = _solve(name, A, b)
    assert x.dtype == jnp.float32
    np.testing.assert_allclose(x, np.linalg.solve(A.astype(np.float64), b), rtol=1e-4, atol=1e-5)


def test_auto_picks_by_size_and_structure(monkeypatch):
    calls = []
    for name in ["cg", "gmres", "lu", "cholesky"]:
        fn = getattr(ls, f"solve_{name}")
        monkeypatch.setattr(ls, f"solve_{name}", lambda *a, _n=name, _f=fn, **k: calls.append(_n) or _f(*a, **k))
    small, big = jnp.ones(4), jnp.ones(ls.DENSE_MAX + 1)
    ls.solve_auto(lambda v: 2 * v, small, symmetric=True, positive_definite=True)
    ls.solve_auto(lambda v: 2 * v, small)
    ls.solve_auto(lambda v: 2 * v, big, symmetric=True, positive_definite=True)
    ls.solve_auto(lambda v: 2 * v, big)
    assert calls == ["cholesky", "lu", "cg", "gmres"]


def test_unknown_solver_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown linear solver 'svd'"):
        ls.get_solver("svd")


@pytest.mark.parametrize("name", list(ls.SOLVERS))
def test_as_custom_root_solve(name):
    """Each solver as the implicit-diff solve of a ridge solution, in both modes."""
    rng = np.random.default_rng(14)
    X, y = jnp.asarray(rng.normal(size=(20, 6))), jnp.asarray(rng.normal(size=20))

    def objective(w, theta):
        return 0.5 * jnp.sum((X @ w - y) ** 2) + 0.5 * theta * jnp.sum(w ** 2)

    def closed(theta):
        return jnp.linalg.solve(X.T @ X + theta * jnp.eye(6), X.T @ y)

    solver = custom_root(jax.grad(objective), solve=name)(lambda init, theta: closed(jax.lax.stop_gradient(theta)))
    expected = jax.jacfwd(closed)(2.0)
    np.testing.assert_allclose(jax.jacrev(solver, argnums=1)(None, 2.0), expected, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(jax.jacfwd(solver, argnums=1)(None, 2.0), expected, rtol=1e-7, atol=1e-10)
