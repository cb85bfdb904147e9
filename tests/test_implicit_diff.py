"""custom_root / custom_fixed_point against closed forms and central finite differences.

Each case is a solver that JAX cannot differentiate through (a ``while_loop``),
made differentiable by its optimality condition, and a closed form for the same
solution that plain autodiff can differentiate. Both modes, the Hessian and
vmap are checked under jit, with dict and tuple parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
from jax import lax

from optdsl.errors import ArgumentError, ArgumentTypeError
from optdsl.runtime.implicit_diff import (
    ClosureError, custom_fixed_point, custom_root, root_jvp, root_vjp)
from optdsl.runtime.projections import projection_simplex
from optdsl.runtime.prox import prox_lasso


def iterate_to_fixed_point(step: Callable, x0, tol: float, maxiter: int = 200_000):
    """Iterate ``x <- step(x)`` in a while_loop until ``||step(x) - x|| <= tol``."""

    def cond(state):
        x, k = state
        return (jnp.linalg.norm(step(x) - x) > tol) & (k < maxiter)

    x, _ = lax.while_loop(cond, lambda s: (step(s[0]), s[1] + 1), (x0, 0))
    return step(x)


def _data(seed: int, m: int = 12, n: int = 5):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.normal(size=(m, n))), jnp.asarray(rng.normal(size=m))


# --- ridge: stationarity map, tuple params -----------------------------------------------------

def ridge_objective(x, theta, A, b):
    return 0.5 * jnp.sum((A @ x - b) ** 2) + 0.5 * theta * jnp.sum(x ** 2)


@custom_root(jax.grad(ridge_objective), symmetric=True, positive_definite=True)
def ridge_solver(init, theta, A, b):
    step = 1.0 / (jnp.linalg.norm(A, 2) ** 2 + theta)
    grad = jax.grad(ridge_objective)
    return iterate_to_fixed_point(lambda x: x - step * grad(x, theta, A, b), init, 1e-14)


def ridge_closed(theta, A, b):
    return jnp.linalg.solve(A.T @ A + theta * jnp.eye(A.shape[1], dtype=A.dtype), A.T @ b)


# --- lasso: proximal-gradient fixed point, dict params -----------------------------------------

def lasso_step(x, p):
    A, b, lam = p["A"], p["b"], p["lam"]
    eta = 1.0 / jnp.linalg.norm(A, 2) ** 2
    return prox_lasso(x - eta * A.T @ (A @ x - b), lam, step=eta)


@custom_fixed_point(lasso_step)
def lasso_solver(init, p):
    return iterate_to_fixed_point(lambda x: lasso_step(x, p), init, 1e-14)


def lasso_closed(p, support, signs):
    """Lasso solution given its support and signs: (A_S^T A_S) x_S = A_S^T b - lam * sign."""
    A_s = p["A"][:, support]
    x_s = jnp.linalg.solve(A_s.T @ A_s, A_s.T @ p["b"] - p["lam"] * signs)
    return jnp.zeros(p["A"].shape[1], x_s.dtype).at[support].set(x_s)


# --- simplex-constrained least squares: projected-gradient fixed point, tuple params ---------

def simplex_step(x, A, b):
    eta = 1.0 / jnp.linalg.norm(A, 2) ** 2
    return projection_simplex(x - eta * A.T @ (A @ x - b))


@custom_fixed_point(simplex_step)
def simplex_solver(init, A, b):
    return iterate_to_fixed_point(lambda x: simplex_step(x, A, b), init, 1e-14)


def simplex_closed(A, b, support):
    """Least squares on the face {x_S : sum x_S = 1} by its KKT system."""
    A_s = A[:, support]
    k = len(support)
    kkt = jnp.block([[A_s.T @ A_s, jnp.ones((k, 1))], [jnp.ones((1, k)), jnp.zeros((1, 1))]])
    rhs = jnp.concatenate([A_s.T @ b, jnp.ones(1)])
    x_s = jnp.linalg.solve(kkt, rhs)[:k]
    return jnp.zeros(A.shape[1], x_s.dtype).at[support].set(x_s)


# --- equality-constrained QP: KKT map over (x, nu), dict params ------------------------------

def qp_kkt(z, p):
    x, nu = z
    return (p["Q"] @ x + p["c"] + p["E"].T @ nu, p["E"] @ x - p["d"])


@custom_root(qp_kkt, solve="lu")
def qp_solver(init, p):
    n, k = p["Q"].shape[0], p["E"].shape[0]
    kkt = jnp.block([[p["Q"], p["E"].T], [p["E"], jnp.zeros((k, k))]])
    sol = jnp.linalg.solve(lax.stop_gradient(kkt), lax.stop_gradient(jnp.concatenate([-p["c"], p["d"]])))
    return sol[:n], sol[n:]


def qp_closed(p):
    n, k = p["Q"].shape[0], p["E"].shape[0]
    kkt = jnp.block([[p["Q"], p["E"].T], [p["E"], jnp.zeros((k, k))]])
    return jnp.linalg.solve(kkt, jnp.concatenate([-p["c"], p["d"]]))[:n]


@dataclass
class Case:
    """A decorated solver, its closed form, the parameters and the solution's init."""

    name: str
    solve: Callable  # params -> x (implicitly differentiated)
    closed: Callable  # params -> x (plain autodiff)
    params: object
    batch: Callable  # seed -> params, for vmap
    part: tuple[Callable, Callable]  # (get, put) of the parameter the Hessian is taken in


def _ridge_case(seed=0):
    A, b = _data(seed)
    x0 = jnp.zeros(A.shape[1])
    return Case("ridge", lambda p: ridge_solver(x0, *p), lambda p: ridge_closed(*p),
                (jnp.asarray(3.0), A, b), lambda s: (jnp.asarray(3.0 + s), *_data(s)),
                (lambda p: p[0], lambda p, t: (t, *p[1:])))


def _lasso_case(seed=0):
    A, b = _data(seed, m=20, n=6)
    p = {"A": A, "b": b, "lam": jnp.asarray(1.5)}
    x0 = jnp.zeros(A.shape[1])
    x_star = np.asarray(lasso_solver(x0, p))
    support = np.flatnonzero(np.abs(x_star) > 1e-8)
    signs = jnp.sign(jnp.asarray(x_star[support]))
    assert 0 < len(support) < A.shape[1], "test data should give a proper support"
    return Case("lasso", lambda q: lasso_solver(x0, q), lambda q: lasso_closed(q, support, signs),
                p, lambda s: {"A": A, "b": b + 0.01 * s, "lam": jnp.asarray(1.5 + 0.01 * s)},
                (lambda q: q["lam"], lambda q, t: {**q, "lam": t}))


def _simplex_case(seed=0):
    rng = np.random.default_rng(seed)
    A = jnp.asarray(rng.normal(size=(15, 6)))
    b = A @ jnp.asarray([0.5, 0.3, 0.2, -0.4, -0.2, 0.0]) + 0.05 * jnp.asarray(rng.normal(size=15))
    x0 = jnp.full(A.shape[1], 1.0 / A.shape[1])
    x_star = np.asarray(simplex_solver(x0, A, b))
    support = np.flatnonzero(x_star > 1e-8)
    assert 1 < len(support) < A.shape[1], "test data should give a proper face"
    return Case("simplex", lambda p: simplex_solver(x0, *p), lambda p: simplex_closed(*p, support),
                (A, b), lambda s: (A, b + 0.01 * s),
                (lambda p: p[1][:3], lambda p, t: (p[0], p[1].at[:3].set(t))))


def _qp_case(seed=0):
    rng = np.random.default_rng(seed)
    n, k = 6, 2
    M = rng.normal(size=(n, n))
    p = {"Q": jnp.asarray(M @ M.T + n * np.eye(n)), "c": jnp.asarray(rng.normal(size=n)),
         "E": jnp.asarray(rng.normal(size=(k, n))), "d": jnp.asarray(rng.normal(size=k))}
    init = (jnp.zeros(n), jnp.zeros(k))
    return Case("qp", lambda q: qp_solver(init, q)[0], qp_closed, p,
                lambda s: {**p, "c": p["c"] + 0.1 * s, "d": p["d"] - 0.1 * s},
                (lambda q: q["d"], lambda q, t: {**q, "d": t}))


CASES = [_ridge_case, _lasso_case, _simplex_case, _qp_case]


def _loss(solve):
    """A nonlinear scalar function of the solution, so its Hessian is not trivial."""

    def loss(params):
        x = solve(params)
        return jnp.sum(jnp.sin(x) * x) + 0.5 * jnp.sum(x) ** 2

    return loss


def _random_direction(params, seed):
    leaves, treedef = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
    return jax.tree_util.tree_unflatten(
        treedef, [jax.random.normal(k, jnp.shape(l), jnp.result_type(l)) for k, l in zip(keys, leaves)])


def _axpy(a, x, y):
    return jax.tree_util.tree_map(lambda u, v: a * u + v, x, y)


def _tree_dot(x, y):
    return sum(jnp.vdot(u, v) for u, v in zip(jax.tree_util.tree_leaves(x), jax.tree_util.tree_leaves(y)))


def _assert_close(actual, expected, rtol):
    for a, e in zip(jax.tree_util.tree_leaves(actual), jax.tree_util.tree_leaves(expected)):
        scale = max(1.0, float(jnp.max(jnp.abs(e))))
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=0, atol=rtol * scale)


@pytest.fixture(params=CASES, ids=lambda c: c.__name__.strip("_").replace("_case", ""))
def case(request):
    return request.param()


def test_solution_matches_closed_form(case):
    _assert_close(jax.jit(case.solve)(case.params), case.closed(case.params), 1e-10)


def test_grad_matches_closed_form_and_finite_differences(case):
    loss = jax.jit(_loss(case.solve))
    g = jax.jit(jax.grad(loss))(case.params)
    _assert_close(g, jax.grad(_loss(case.closed))(case.params), 1e-8)
    direction = _random_direction(case.params, 1)
    h = 1e-5
    fd = (loss(_axpy(h, direction, case.params)) - loss(_axpy(-h, direction, case.params))) / (2 * h)
    np.testing.assert_allclose(float(_tree_dot(g, direction)), float(fd), rtol=1e-6)


def test_jacrev_equals_jacfwd_equals_closed_form(case):
    jr = jax.jit(jax.jacrev(case.solve))(case.params)
    jf = jax.jit(jax.jacfwd(case.solve))(case.params)
    _assert_close(jr, jf, 1e-10)
    _assert_close(jf, jax.jacfwd(case.closed)(case.params), 1e-8)


def test_jvp_and_vjp(case):
    direction = _random_direction(case.params, 2)
    x, dx = jax.jit(lambda p, d: jax.jvp(case.solve, (p,), (d,)))(case.params, direction)
    _, dx_closed = jax.jvp(case.closed, (case.params,), (direction,))
    _assert_close(dx, dx_closed, 1e-8)
    cot = jnp.cos(jnp.arange(x.shape[0], dtype=x.dtype))
    vjp = jax.jit(lambda p: jax.vjp(case.solve, p)[1](cot)[0])(case.params)
    _assert_close(vjp, jax.vjp(case.closed, case.params)[1](cot)[0], 1e-8)


def test_hessian_matches_closed_form(case):
    get, put = case.part
    loss = lambda t: _loss(case.solve)(put(case.params, t))
    loss_closed = lambda t: _loss(case.closed)(put(case.params, t))
    t0 = get(case.params)
    _assert_close(jax.jit(jax.hessian(loss))(t0), jax.hessian(loss_closed)(t0), 1e-7)


def test_vmap_of_grad(case):
    batch = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *[case.batch(s) for s in range(4)])
    g = jax.jit(jax.vmap(jax.grad(_loss(case.solve))))(batch)
    g_closed = jax.vmap(jax.grad(_loss(case.closed)))(batch)
    _assert_close(g, g_closed, 1e-8)


def test_root_jvp_and_root_vjp_by_hand():
    A, b = _data(3)
    theta = jnp.asarray(2.0)
    x = ridge_closed(theta, A, b)
    F = jax.grad(ridge_objective)
    dx = root_jvp(F, x, (theta, A, b), (jnp.asarray(1.0), jnp.zeros_like(A), jnp.zeros_like(b)))
    _assert_close(dx, jax.jacfwd(ridge_closed)(theta, A, b), 1e-10)
    cot = jnp.arange(1.0, 6.0)
    vjps = root_vjp(F, x, (theta, A, b), cot, solve="cg", symmetric=True)
    expected = jax.vjp(ridge_closed, theta, A, b)[1](cot)
    _assert_close(vjps, expected, 1e-8)


def test_factored_solve_reuses_the_solver_factorisation():
    p = _qp_case(1).params
    n, k = p["Q"].shape[0], p["E"].shape[0]
    calls = []

    def factored(lu, b, transpose):
        calls.append(transpose)
        return jax.scipy.linalg.lu_solve(lu, b, trans=int(transpose))

    @custom_root(qp_kkt, has_aux=True, factored_solve=factored)
    def solver(init, p):
        kkt = jnp.block([[p["Q"], p["E"].T], [p["E"], jnp.zeros((k, k))]])
        lu = jax.scipy.linalg.lu_factor(lax.stop_gradient(kkt))
        sol = jax.scipy.linalg.lu_solve(lu, lax.stop_gradient(jnp.concatenate([-p["c"], p["d"]])))
        return (sol[:n], sol[n:]), lu

    solve = lambda q: solver(None, q)[0][0]
    _assert_close(jax.jacrev(solve)(p), jax.jacfwd(qp_closed)(p), 1e-9)
    _assert_close(jax.jacfwd(solve)(p), jax.jacfwd(qp_closed)(p), 1e-9)
    assert set(calls) == {False, True}
    with pytest.raises(ValueError, match="has_aux"):
        custom_root(qp_kkt, factored_solve=factored)


def test_aux_is_passed_through_undifferentiated():
    A, b = _data(4)

    @custom_root(jax.grad(ridge_objective), has_aux=True)
    def with_aux(init, theta, A, b):
        x = ridge_closed(lax.stop_gradient(theta), A, b)
        return x, {"iterations": jnp.asarray(7), "residual": jnp.linalg.norm(x)}

    def loss(theta):
        x, aux = with_aux(None, theta, A, b)
        return jnp.sum(x ** 2) + 0.0 * aux["residual"]

    np.testing.assert_allclose(jax.grad(loss)(2.0), jax.grad(lambda t: jnp.sum(ridge_closed(t, A, b) ** 2))(2.0),
                               rtol=1e-10)
    _, aux_tangent = jax.jvp(lambda t: with_aux(None, t, A, b), (2.0,), (1.0,))
    assert float(aux_tangent[1]["residual"]) == 0.0


@pytest.mark.parametrize("mode", ["grad", "jvp"])
def test_closed_over_differentiated_value_raises(mode):
    A, b = _data(5)

    def loss(theta):
        solver = custom_root(jax.grad(ridge_objective))(lambda init, A, b: ridge_closed(theta, A, b))
        return jnp.sum(solver(None, A, b))

    with pytest.raises(ClosureError, match="pass the value as a parameter"):
        if mode == "grad":
            jax.grad(loss)(1.0)
        else:
            jax.jvp(loss, (1.0,), (1.0,))


def test_closing_over_constants_is_fine():
    A, b = _data(6)  # closed-over arrays that are not differentiated need no special care
    solver = custom_root(lambda x, t: jax.grad(ridge_objective)(x, t, A, b))(
        lambda init, t: ridge_closed(t, A, b))
    np.testing.assert_allclose(jax.grad(lambda t: jnp.sum(solver(None, t)))(2.0),
                               jax.grad(lambda t: jnp.sum(ridge_closed(t, A, b)))(2.0), rtol=1e-10)


def test_float32_ridge():
    A, b = _data(7)
    A32, b32 = A.astype(jnp.float32), b.astype(jnp.float32)

    @custom_root(jax.grad(ridge_objective), symmetric=True, positive_definite=True)
    def solver(init, theta, A, b):
        return ridge_closed(lax.stop_gradient(theta), A, b)

    jac = jax.jit(jax.jacrev(solver, argnums=1))(None, jnp.float32(3.0), A32, b32)
    jac_fwd = jax.jit(jax.jacfwd(solver, argnums=1))(None, jnp.float32(3.0), A32, b32)
    assert jac.dtype == jnp.float32 and jac_fwd.dtype == jnp.float32
    expected = jax.jacfwd(ridge_closed)(3.0, A, b)
    np.testing.assert_allclose(jac, expected, atol=1e-4)
    np.testing.assert_allclose(jac_fwd, expected, atol=1e-4)


# --- keyword arguments, pytree solutions, host solvers ------------------------------------------

def qp_closed_pair(p):
    """The equality-constrained QP's primal-dual pair (x, nu) from its KKT system."""
    n, k = p["Q"].shape[0], p["E"].shape[0]
    kkt = jnp.block([[p["Q"], p["E"].T], [p["E"], jnp.zeros((k, k))]])
    z = jnp.linalg.solve(kkt, jnp.concatenate([-p["c"], p["d"]]))
    return z[:n], z[n:]


def test_keyword_pytree_params_and_pytree_solution():
    p = _qp_case(2).params
    solver = custom_root(qp_kkt, solve="lu")(lambda init, p: qp_closed_pair(lax.stop_gradient(p)))
    by_keyword = lambda q: solver(None, p=q)  # noqa: E731
    expected = jax.jacfwd(qp_closed_pair)(p)
    _assert_close(jax.jacrev(by_keyword)(p), expected, 1e-9)
    _assert_close(jax.jit(jax.jacfwd(by_keyword))(p), expected, 1e-9)

    sol = qp_closed_pair(p)
    direction = _random_direction(p, 3)
    _assert_close(root_jvp(qp_kkt, sol, (p,), (direction,)), jax.jvp(qp_closed_pair, (p,), (direction,))[1], 1e-9)
    cot = _random_direction(sol, 4)
    _assert_close(root_vjp(qp_kkt, sol, (p,), cot), jax.vjp(qp_closed_pair, p)[1](cot), 1e-9)


def test_keywords_the_optimality_map_cannot_take_are_named():
    A, b = _data(8)
    solver = custom_root(jax.grad(ridge_objective))(lambda init, **kw: ridge_closed(kw["theta"], kw["A"], kw["B"]))
    np.testing.assert_allclose(solver(None, theta=2.0, A=A, B=b), ridge_closed(2.0, A, b), rtol=1e-12)
    with pytest.raises(ArgumentTypeError, match=r"ridge_objective\(x, theta, A, b\).*keywords \['A', 'B', 'theta'\]"):
        jax.grad(lambda t: jnp.sum(solver(None, theta=t, A=A, B=b)))(2.0)


def scipy_ridge(theta, A, b) -> np.ndarray:
    """Ridge regression by scipy.optimize.minimize on concrete NumPy arrays (a host solver JAX cannot trace)."""
    A, b, theta = np.asarray(A), np.asarray(b), float(theta)

    def objective(x):
        r = A @ x - b
        return 0.5 * r @ r + 0.5 * theta * x @ x, A.T @ r + theta * x

    hess = lambda x: A.T @ A + theta * np.eye(A.shape[1])  # noqa: E731
    result = scipy.optimize.minimize(objective, np.zeros(A.shape[1]), jac=True, hess=hess, method="trust-exact",
                                     options={"gtol": 1e-13})
    return result.x


def test_scipy_solver_differentiates_outside_jit():
    A, b = _data(9)

    @custom_root(jax.grad(ridge_objective), symmetric=True, positive_definite=True)
    def solver(init, theta, A, b):
        return jnp.asarray(scipy_ridge(theta, A, b))

    loss = lambda t: jnp.sum(jnp.sin(solver(None, t, A, b)))  # noqa: E731
    loss_closed = lambda t: jnp.sum(jnp.sin(ridge_closed(t, A, b)))  # noqa: E731
    np.testing.assert_allclose(jax.grad(loss)(1.5), jax.grad(loss_closed)(1.5), rtol=1e-9)
    _, dx = jax.jvp(lambda t: solver(None, t, A, b), (1.5,), (1.0,))
    np.testing.assert_allclose(dx, jax.jacfwd(ridge_closed)(1.5, A, b), rtol=1e-9, atol=1e-12)
    dA = jax.grad(lambda A: jnp.sum(solver(None, 1.5, A, b) ** 2))(A)
    np.testing.assert_allclose(dA, jax.grad(lambda A: jnp.sum(ridge_closed(1.5, A, b) ** 2))(A), rtol=1e-8)


def test_pure_callback_host_solver_under_jit_and_vmap():
    A, b = _data(10)

    @custom_root(jax.grad(ridge_objective), symmetric=True, positive_definite=True)
    def solver(init, theta, A, b):
        shape = jax.ShapeDtypeStruct((A.shape[1],), A.dtype)
        return jax.pure_callback(scipy_ridge, shape, theta, A, b, vmap_method="sequential")

    loss = lambda t: jnp.sum(jnp.sin(solver(None, t, A, b)))  # noqa: E731
    loss_closed = lambda t: jnp.sum(jnp.sin(ridge_closed(t, A, b)))  # noqa: E731
    thetas = jnp.asarray([0.5, 1.5, 4.0])
    np.testing.assert_allclose(jax.jit(jax.grad(loss))(1.5), jax.grad(loss_closed)(1.5), rtol=1e-9)
    np.testing.assert_allclose(jax.jit(jax.vmap(jax.grad(loss)))(thetas), jax.vmap(jax.grad(loss_closed))(thetas),
                               rtol=1e-9)


def test_root_jvp_needs_one_tangent_per_parameter():
    A, b = _data(11)
    x = ridge_closed(2.0, A, b)
    with pytest.raises(ArgumentError, match="3 params but 1 tangents"):
        root_jvp(jax.grad(ridge_objective), x, (2.0, A, b), (1.0,))
