"""JAXopt's implicit-differentiation tests (tests/implicit_diff_test.py) re-expressed against optdsl.runtime.

Same inputs and assertions; only the calls are spelled the optdsl way: ``root_vjp`` / ``root_jvp`` take
``params=`` where JAXopt says ``args=``, and the ridge solver's identity takes the data's dtype
(``jnp.eye(n, dtype=X.dtype)``) and ``lam`` is a scalar of the run's dtype (JAXopt's ``5.0`` in its default
float32, and so its tangent ``1.0``), so that the float32 run stays in float32 with x64 enabled. JAXopt's
``test_util.ridge_solver_jac`` (central differences of the closed form in ``lam``) is written out below. Every test
runs in float32 and in float64 (inputs cast to the dtype); see tests/jaxopt_asserts.py for the tolerances.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as onp
import pytest
from sklearn import datasets

from jaxopt_asserts import assert_close
from optdsl.runtime import implicit_diff as idf


@pytest.fixture(params=[onp.float32, onp.float64], ids=["float32", "float64"])
def dtype(request):
    return request.param


def ridge_objective(params, lam, X, y):
    residuals = jnp.dot(X, params) - y
    return 0.5 * jnp.mean(residuals ** 2) + 0.5 * lam * jnp.sum(params ** 2)


def ridge_solver(init_params, lam, X, y):
    del init_params  # not used
    XX = jnp.dot(X.T, X)
    Xy = jnp.dot(X.T, y)
    I = jnp.eye(X.shape[1], dtype=X.dtype)  # noqa: E741 - JAXopt's name
    return jnp.linalg.solve(XX + lam * len(y) * I, Xy)


def ridge_solver_with_kwargs(init_params, **kw):
    return ridge_solver(init_params, kw['lam'], kw['X'], kw['y'])


def ridge_solver_jac(X, y, lam, eps=1e-4):
    return (ridge_solver(None, lam + eps, X, y) - ridge_solver(None, lam - eps, X, y)) / (2 * eps)


def _regression(dtype):
    X, y = datasets.make_regression(n_samples=10, n_features=3, random_state=0)
    return X.astype(dtype), y.astype(dtype)


def test_root_vjp(dtype):
    X, y = _regression(dtype)
    optimality_fun = jax.grad(ridge_objective)
    lam = dtype(5.0)
    sol = ridge_solver(None, lam, X, y)
    vjp = lambda g: idf.root_vjp(optimality_fun=optimality_fun,  # noqa: E731 - as in JAXopt
                                 sol=sol,
                                 params=(lam, X, y),
                                 cotangent=g)[0]  # vjp w.r.t. lam
    I = jnp.eye(len(sol), dtype=dtype)  # noqa: E741
    J = jax.vmap(vjp)(I)
    J_num = ridge_solver_jac(X, y, lam, eps=1e-4)
    assert_close(J, J_num, atol=5e-2)


def test_root_jvp(dtype):
    X, y = _regression(dtype)
    optimality_fun = jax.grad(ridge_objective)
    lam = dtype(5.0)
    sol = ridge_solver(None, lam, X, y)
    J = idf.root_jvp(optimality_fun=optimality_fun,
                     sol=sol,
                     params=(lam, X, y),
                     tangents=(dtype(1.0), jnp.zeros_like(X), jnp.zeros_like(y)))
    J_num = ridge_solver_jac(X, y, lam, eps=1e-4)
    assert_close(J, J_num, atol=5e-2)


def test_custom_root(dtype):
    X, y = _regression(dtype)
    optimality_fun = jax.grad(ridge_objective)
    lam = dtype(5.0)
    ridge_solver_decorated = idf.custom_root(optimality_fun)(ridge_solver)
    sol = ridge_solver(None, lam=lam, X=X, y=y)
    sol_decorated = ridge_solver_decorated(None, lam=lam, X=X, y=y)
    assert_close(sol, sol_decorated, atol=1e-4)
    J_num = ridge_solver_jac(X, y, lam, eps=1e-4)
    J = jax.jacrev(ridge_solver_decorated, argnums=1)(None, lam, X=X, y=y)
    assert_close(J, J_num, atol=5e-2)


def test_custom_root_with_has_aux(dtype):
    def ridge_solver_with_aux(init_params, lam, X, y):
        return ridge_solver(init_params, lam, X, y), None

    X, y = _regression(dtype)
    optimality_fun = jax.grad(ridge_objective)
    lam = dtype(5.0)
    decorator = idf.custom_root(optimality_fun, has_aux=True)
    ridge_solver_decorated = decorator(ridge_solver_with_aux)
    sol = ridge_solver(None, lam=lam, X=X, y=y)
    sol_decorated = ridge_solver_decorated(None, lam=lam, X=X, y=y)[0]
    assert_close(sol, sol_decorated, atol=1e-4)
    J_num = ridge_solver_jac(X, y, lam, eps=1e-4)
    J, _ = jax.jacrev(ridge_solver_decorated, argnums=1)(None, lam, X=X, y=y)
    assert_close(J, J_num, atol=5e-2)


def test_custom_fixed_point(dtype):
    X, y = _regression(dtype)
    grad_fun = jax.grad(ridge_objective)
    fp_fun = lambda x, *args: x - grad_fun(x, *args)  # noqa: E731
    fp_fun = functools.wraps(grad_fun)(fp_fun)  # carries grad_fun signature
    lam = dtype(5.0)
    ridge_solver_decorated = idf.custom_fixed_point(fp_fun)(ridge_solver)
    sol = ridge_solver(None, lam=lam, X=X, y=y)
    sol_decorated = ridge_solver_decorated(None, lam=lam, X=X, y=y)
    assert_close(sol, sol_decorated, atol=1e-4)
    J_num = ridge_solver_jac(X, y, lam, eps=1e-4)
    J = jax.jacrev(ridge_solver_decorated, argnums=1)(None, lam, X=X, y=y)
    assert_close(J, J_num, atol=5e-2)


@pytest.mark.parametrize("order", ["ordered", "unordered"])
def test_custom_root_with_kwargs(dtype, order):
    X, y = _regression(dtype)
    lam = dtype(5.0)
    w_ref = ridge_solver(None, lam, X, y)
    kwargs = {"lam": lam, "X": X, "y": y} if order == "ordered" else {"X": X, "lam": lam, "y": y}

    cr_solver = idf.custom_root(jax.grad(ridge_objective))(ridge_solver_with_kwargs)
    w = cr_solver(None, **kwargs)
    w_jit = jax.jit(cr_solver)(None, **kwargs)

    assert_close(w_ref, w, atol=5e-2)
    assert_close(w_jit, w, atol=5e-2)


@pytest.mark.parametrize("order", ["ordered", "unordered"])
def test_custom_root_with_kwargs_grad(dtype, order):
    X, y = _regression(dtype)
    lam = dtype(5.0)
    lam_grad_ref = jax.grad(lambda lam: ridge_solver(None, lam, X, y)[0])(lam)

    cr_solver = idf.custom_root(jax.grad(ridge_objective))(ridge_solver_with_kwargs)
    if order == "ordered":
        grad_fun = jax.grad(lambda lam: cr_solver(None, lam=lam, X=X, y=y)[0])
    else:
        grad_fun = jax.grad(lambda lam: cr_solver(None, X=X, lam=lam, y=y)[0])
    lam_grad = grad_fun(lam)
    lam_grad_jit = jax.jit(grad_fun)(lam)

    assert_close(lam_grad_ref, lam_grad, atol=5e-2)
    assert_close(lam_grad_jit, lam_grad, atol=5e-2)
