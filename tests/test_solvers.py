"""Forward solvers: closed forms, scipy and cvxpy+Clarabel references, status codes, jit/vmap, unrolled gradients."""

import functools

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
from jax import lax
from scipy.special import expit

from optdsl.runtime import status
from optdsl.runtime.solvers import (default_tol, lbfgs, mirror_descent, newton, newton_cg,
                                    proximal_gradient, simplex_kl_step)
from optdsl.runtime.solvers.base import per_instance, run_if

SMOOTH = {"lbfgs": lbfgs, "newton": newton, "newton_cg": newton_cg}
CLARABEL_TIGHT = dict(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)


# ----------------------------------------------------------------------------- problems

def _ridge_data(dtype=np.float64):
    rng = np.random.default_rng(0)
    A = rng.normal(size=(30, 8)).astype(dtype)
    b = rng.normal(size=30).astype(dtype)
    return A, b


def ridge(x, params):
    A, b, theta = params
    return 0.5 * jnp.sum((A @ x - b) ** 2) + 0.5 * theta * jnp.vdot(x, x)


def ridge_solution(A, b, theta):
    return np.linalg.solve(A.T @ A + theta * np.eye(A.shape[1]), A.T @ b)


def _logistic_data(dtype=np.float64):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 10))
    y = np.where(X @ rng.normal(size=10) + 0.5 * rng.normal(size=60) > 0, 1.0, -1.0)
    return X.astype(dtype), y.astype(dtype), 0.1


def logistic(w, params):
    X, y, lam = params
    return jnp.mean(jnp.logaddexp(0, -y * (X @ w))) + 0.5 * lam * jnp.vdot(w, w)


def logistic_scipy(X, y, lam):
    """Reference minimiser from scipy's trust-exact with numpy derivatives."""
    m = X.shape[0]

    def f(w):
        return np.mean(np.logaddexp(0, -y * (X @ w))) + 0.5 * lam * w @ w

    def g(w):
        return X.T @ (-y * expit(-y * (X @ w))) / m + lam * w

    def h(w):
        s = expit(y * (X @ w))
        return (X.T * (s * (1 - s))) @ X / m + lam * np.eye(X.shape[1])

    res = scipy.optimize.minimize(f, np.zeros(X.shape[1]), jac=g, hess=h, method="trust-exact",
                                  options={"gtol": 1e-13})
    return res.x


def rosenbrock(x, params):
    return jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def soft_threshold(v, params, step):
    """prox of step * lam * ||.||_1 (written here so the test does not rely on optdsl's prox module)."""
    lam = params[2]
    return jnp.sign(v) * jnp.maximum(jnp.abs(v) - step * lam, 0)


def least_squares(x, params):
    A, b = params[0], params[1]
    return 0.5 * jnp.sum((A @ x - b) ** 2)


def _lasso_data():
    rng = np.random.default_rng(2)
    A = rng.normal(size=(40, 15))
    b = A @ np.where(rng.random(15) < 0.4, rng.normal(size=15), 0) + 0.1 * rng.normal(size=40)
    return A, b, 2.0


def lasso_cvxpy(A, b, lam):
    z = cp.Variable(A.shape[1])
    cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ z - b) + lam * cp.norm1(z))).solve(**CLARABEL_TIGHT)
    return z.value


def _simplex_data(rows, k):
    rng = np.random.default_rng(3)
    A = rng.normal(size=(25, rows * k))
    b = rng.normal(size=25)
    return A, b


def simplex_ls_cvxpy(A, b, rows, k):
    Z = cp.Variable((rows, k))
    cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ cp.vec(Z, order="C") - b)),
               [Z >= 0, cp.sum(Z, axis=1) == 1]).solve(**CLARABEL_TIGHT)
    return Z.value.reshape(-1)


def _jitted(solver, *args, **options):
    """``solver`` with its functions (and fixed options) bound, jitted over ``(init, params)``."""
    return jax.jit(functools.partial(solver, *args, **options), static_argnames=("maxiter",))


def _runners():
    """Each solver, jitted once, on a problem it suits: name -> (run(init, params, maxiter=), init, params)."""
    X, y, lam = _logistic_data()
    Al, bl, lam1 = _lasso_data()
    As, bs = _simplex_data(1, 10)
    kl = functools.partial(simplex_kl_step, shape=(1, 10))
    return {
        "lbfgs": (_jitted(lbfgs, logistic), np.zeros(10), (X, y, lam)),
        "newton": (_jitted(newton, logistic), np.zeros(10), (X, y, lam)),
        "newton_cg": (_jitted(newton_cg, logistic), np.zeros(10), (X, y, lam)),
        "proximal_gradient": (_jitted(proximal_gradient, least_squares, soft_threshold),
                              np.zeros(15), (Al, bl, lam1)),
        "mirror_descent": (_jitted(mirror_descent, least_squares, kl), np.full(10, 0.1), (As, bs)),
    }


RUNNERS = _runners()


# ----------------------------------------------------------------------------- smooth solvers

@pytest.mark.parametrize("name", SMOOTH)
def test_smooth_solvers_match_ridge_closed_form(name):
    A, b = _ridge_data()
    x, info = _jitted(SMOOTH[name], ridge)(jnp.zeros(8), (A, b, 0.7))
    np.testing.assert_allclose(x, ridge_solution(A, b, 0.7), rtol=0, atol=1e-10)
    grad_norm = np.linalg.norm(jax.grad(ridge)(x, (A, b, 0.7)))
    assert info.status == status.SOLVED
    assert grad_norm <= 1e-10
    np.testing.assert_allclose(info.residual, grad_norm, rtol=1e-6, atol=1e-14)
    assert info.iterations.dtype == jnp.int32 and info.status.dtype == jnp.int32


@pytest.mark.parametrize("name", SMOOTH)
def test_smooth_solvers_match_scipy_on_logistic_regression(name):
    run, init, (X, y, lam) = RUNNERS[name]
    w, info = run(init, (X, y, lam))
    assert info.status == status.SOLVED
    assert np.linalg.norm(jax.grad(logistic)(w, (X, y, lam))) <= 1e-10
    np.testing.assert_allclose(w, logistic_scipy(X, y, lam), rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", SMOOTH)
def test_smooth_solvers_match_scipy_on_rosenbrock(name):
    x0 = np.array([-1.2, 1.0])
    ref = scipy.optimize.minimize(scipy.optimize.rosen, x0, jac=scipy.optimize.rosen_der,
                                  hess=scipy.optimize.rosen_hess, method="trust-exact",
                                  options={"gtol": 1e-13}).x
    x, info = _jitted(SMOOTH[name], rosenbrock)(x0, None)
    assert info.status == status.SOLVED
    assert np.linalg.norm(scipy.optimize.rosen_der(np.asarray(x))) <= 1e-9
    np.testing.assert_allclose(x, ref, rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", ["newton", "newton_cg"])
def test_newton_handles_indefinite_hessian(name):
    """At 0 the Hessian of sum(x^4 - 2x^2 + 0.1x) is -4 I; the minimiser is the least root of 4x^3 - 4x + 0.1."""
    fun = lambda x, c: jnp.sum(x ** 4 - 2 * x ** 2 + c * x)
    x, info = _jitted(SMOOTH[name], fun)(jnp.zeros(3), 0.1)
    roots = np.roots([4.0, 0.0, -4.0, 0.1]).real
    assert info.status == status.SOLVED
    np.testing.assert_allclose(x, np.full(3, roots.min()), rtol=0, atol=1e-10)


# ----------------------------------------------------------------------------- proximal gradient

@pytest.mark.parametrize("acceleration, restart, fixed_step", [
    (True, True, False), (True, False, True), (False, False, False)])
def test_proximal_gradient_matches_cvxpy_on_lasso(acceleration, restart, fixed_step):
    A, b, lam = _lasso_data()
    stepsize = 1 / np.linalg.norm(A, 2) ** 2 if fixed_step else None
    solve = _jitted(proximal_gradient, least_squares, soft_threshold, stepsize=stepsize,
                    acceleration=acceleration, restart=restart)
    x, info = solve(jnp.zeros(15), (A, b, lam))
    ref = lasso_cvxpy(A, b, lam)
    assert info.status == status.SOLVED and info.residual <= 1e-10
    assert 0 < np.sum(np.abs(ref) < 1e-8) < 15  # some coordinates at the kink, some not
    np.testing.assert_allclose(x, ref, rtol=0, atol=1e-8)


def test_projected_gradient_matches_cvxpy_on_box_qp():
    rng = np.random.default_rng(4)
    M = rng.normal(size=(12, 12))
    Q, q = M @ M.T / 12 + 0.1 * np.eye(12), 2 * rng.normal(size=12)
    lo, hi = -0.5 * np.ones(12), np.ones(12)
    qp = lambda x, p: 0.5 * x @ p[0] @ x + p[1] @ x
    clip = lambda v, p, step: jnp.clip(v, p[2], p[3])
    x, info = _jitted(proximal_gradient, qp, clip)(jnp.zeros(12), (Q, q, lo, hi))
    z = cp.Variable(12)
    cp.Problem(cp.Minimize(0.5 * cp.quad_form(z, Q) + q @ z), [z >= lo, z <= hi]).solve(**CLARABEL_TIGHT)
    active = np.isclose(z.value, lo, atol=1e-8) | np.isclose(z.value, hi, atol=1e-8)
    assert info.status == status.SOLVED
    assert 0 < active.sum() < 12
    np.testing.assert_allclose(x, z.value, rtol=0, atol=1e-8)


# ----------------------------------------------------------------------------- mirror descent

def test_simplex_kl_step_closed_form_rowwise_and_stable():
    rng = np.random.default_rng(5)
    x = rng.random((3, 4))
    x /= x.sum(axis=1, keepdims=True)
    g = rng.normal(size=(3, 4))
    expected = x * np.exp(-0.7 * g)
    expected /= expected.sum(axis=1, keepdims=True)
    out = simplex_kl_step(jnp.asarray(x.ravel()), jnp.asarray(g.ravel()), 0.7, (3, 4))
    np.testing.assert_allclose(out, expected.ravel(), rtol=1e-13)
    whole = x.ravel() * np.exp(-0.7 * g.ravel())
    np.testing.assert_allclose(simplex_kl_step(jnp.asarray(x.ravel()), jnp.asarray(g.ravel()), 0.7),
                               whole / whole.sum(), rtol=1e-13)
    # eta * g far beyond exp's range: still a point of the simplex, all mass on the smallest g
    big = simplex_kl_step(jnp.full(3, 1 / 3), jnp.array([-2.0, 0.0, 1.0]), 1e4)
    np.testing.assert_allclose(big, [1.0, 0.0, 0.0], atol=1e-300)


@pytest.mark.parametrize("rows, k", [(1, 10), (3, 4)])
def test_mirror_descent_matches_cvxpy_on_simplex_least_squares(rows, k):
    A, b = _simplex_data(rows, k)
    kl_step = functools.partial(simplex_kl_step, shape=(rows, k))
    x, info = _jitted(mirror_descent, least_squares, kl_step)(jnp.full(rows * k, 1 / k), (A, b))
    ref = simplex_ls_cvxpy(A, b, rows, k)
    assert info.status == status.SOLVED and info.residual <= 1e-10
    assert np.any(ref < 1e-8)  # the answer lies on the boundary of the simplices
    np.testing.assert_allclose(x.reshape(rows, k).sum(axis=1), 1, atol=1e-13)
    np.testing.assert_allclose(x, ref, rtol=0, atol=1e-7)


# ----------------------------------------------------------------------------- shared behaviour

def _scaled(params, s):
    """The same problem with its data vector (second entry) multiplied by s."""
    return (params[0], params[1] * s) + tuple(params[2:])


@pytest.mark.parametrize("name", RUNNERS)
def test_status_codes_and_warm_start(name):
    run, init, params = RUNNERS[name]
    x, info = run(init, params)
    assert info.status == status.SOLVED and info.iterations > 3

    _, short = run(init, params, maxiter=3)
    assert short.status == status.MAX_ITERATIONS and short.iterations == 3
    assert short.residual > default_tol(jnp.float64)

    nan_init = init.copy()
    nan_init[0] = np.nan
    _, bad = run(nan_init, params)
    assert bad.status == status.NUMERICAL_ERROR

    x_warm, warm = run(x, params)
    assert warm.status == status.SOLVED and warm.iterations <= 1
    np.testing.assert_allclose(x_warm, x, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", RUNNERS)
def test_jit_and_vmap_agree_with_single_runs(name):
    run, init, params = RUNNERS[name]
    scales = jnp.array([0.5, 1.0, 2.0])
    batched_x, batched_info = jax.vmap(lambda s: run(init, _scaled(params, s)))(scales)
    assert batched_info.iterations.shape == (3,)
    for i, s in enumerate(scales):
        x, info = run(init, _scaled(params, s))
        assert info.status == status.SOLVED and batched_info.status[i] == status.SOLVED
        np.testing.assert_allclose(batched_x[i], x, rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", RUNNERS)
def test_float32_in_float32_out_and_converges(name):
    run, init, params = RUNNERS[name]
    x64, _ = run(init, params)
    params32 = jax.tree.map(lambda a: np.asarray(a, np.float32), params)
    x32, info = run(init.astype(np.float32), params32)
    assert x32.dtype == jnp.float32 and info.residual.dtype == jnp.float32
    assert info.status == status.SOLVED and info.residual <= default_tol(jnp.float32)
    np.testing.assert_allclose(x32, x64, rtol=0, atol=1e-4)


# ----------------------------------------------------------------------------- unrolled differentiation

def _ridge_target(theta, A, b, c):
    return c @ ridge_solution(A, b, theta)


@pytest.mark.parametrize("name, maxiter", [("lbfgs", 40), ("newton", 5), ("proximal_gradient", 150)])
def test_unrolled_gradient_matches_finite_differences_on_ridge(name, maxiter):
    A, b = _ridge_data()
    c = np.random.default_rng(6).normal(size=8)
    identity = lambda v, params, step: v  # no non-smooth term: proximal gradient is gradient descent
    solver = {"lbfgs": functools.partial(lbfgs, ridge), "newton": functools.partial(newton, ridge),
              "proximal_gradient": functools.partial(proximal_gradient, ridge, identity)}[name]

    def target(theta, unroll):
        x, info = solver(jnp.zeros(8), (A, b, theta), maxiter=maxiter, unroll=unroll)
        return jnp.vdot(c, x), (x, info)

    theta, h = 0.7, 1e-4
    (_, (x, info)), grad = jax.jit(jax.value_and_grad(target, has_aux=True), static_argnums=1)(theta, True)
    assert info.status == status.SOLVED and info.iterations < maxiter
    np.testing.assert_allclose(x, ridge_solution(A, b, theta), rtol=0, atol=1e-9)
    while_loop_target = jax.jit(lambda theta: target(theta, False)[0])
    fd = (while_loop_target(theta + h) - while_loop_target(theta - h)) / (2 * h)
    closed = (_ridge_target(theta + h, A, b, c) - _ridge_target(theta - h, A, b, c)) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6)
    np.testing.assert_allclose(grad, closed, rtol=1e-6)


def test_unrolled_mirror_descent_gradient_matches_closed_form():
    """For c inside the simplex, argmin_{x in simplex} ||x - c||^2 / 2 = c + (1 - sum c) / n: Jacobian I - 11^T/n."""
    c = np.array([0.3, 0.25, 0.2, 0.15, 0.12])
    w = np.random.default_rng(7).normal(size=5)
    fun = lambda x, c: 0.5 * jnp.sum((x - c) ** 2)

    def target(c):
        x, info = mirror_descent(fun, simplex_kl_step, jnp.full(5, 0.2), c, maxiter=200, unroll=True)
        return jnp.vdot(w, x), (x, info)

    (_, (x, info)), grad = jax.jit(jax.value_and_grad(target, has_aux=True))(c)
    assert info.status == status.SOLVED and info.iterations < 200
    np.testing.assert_allclose(x, c + (1 - c.sum()) / 5, rtol=0, atol=1e-9)
    np.testing.assert_allclose(grad, w - w.mean(), rtol=0, atol=1e-7)


# ----------------------------------------------------------------------------- with implicit differentiation

def test_solvers_compose_with_custom_root_and_custom_fixed_point():
    """(x, info) passes through the implicit-diff decorators as (solution, aux); gradients match closed forms."""
    from optdsl.runtime.implicit_diff import custom_fixed_point, custom_root

    A, b = _ridge_data()
    c = np.random.default_rng(8).normal(size=8)

    @custom_root(jax.grad(ridge), has_aux=True, symmetric=True)
    def ridge_lbfgs(init, params):
        return lbfgs(ridge, init, params)

    def ridge_step(x, params):  # gradient step with step 1/L: its fixed points are the ridge solutions
        return x - jax.grad(ridge)(x, params) / (np.linalg.norm(A, 2) ** 2 + params[2])

    @custom_fixed_point(ridge_step, has_aux=True)
    def ridge_pg(init, params):
        return proximal_gradient(ridge, lambda v, p, step: v, init, params)

    closed = jax.grad(lambda t: c @ jnp.linalg.solve(A.T @ A + t * jnp.eye(8), A.T @ b))(0.7)
    for solve in (ridge_lbfgs, ridge_pg):
        def target(t):
            x, info = solve(jnp.zeros(8), (A, b, t))
            return jnp.vdot(c, x), info

        reverse, info = jax.jit(jax.grad(target, has_aux=True))(0.7)
        forward, _ = jax.jit(jax.jacfwd(target, has_aux=True))(0.7)
        assert info.status == status.SOLVED
        np.testing.assert_allclose(reverse, closed, rtol=1e-7)
        np.testing.assert_allclose(forward, closed, rtol=1e-7)


# ----------------------------------------------------------------------------- argument checks

def test_default_tol_depends_on_dtype():
    assert default_tol(jnp.float64) == pytest.approx(1e-10)
    assert 5e-6 < default_tol(jnp.float32) < 5e-5


def test_bad_arguments_raise_clear_errors():
    A, b = _ridge_data()
    params = (A, b, 0.7)
    with pytest.raises(ValueError, match=r"init .*1-D.*\(2, 4\)"):
        lbfgs(ridge, jnp.zeros((2, 4)), params)
    with pytest.raises(TypeError, match="init .*floating.*int"):
        newton(ridge, jnp.zeros(8, jnp.int32), params)
    with pytest.raises(ValueError, match="fun.* scalar"):
        lbfgs(lambda x, p: x ** 2, jnp.zeros(8), params)
    with pytest.raises(ValueError, match="maxiter"):
        newton_cg(ridge, jnp.zeros(8), params, maxiter=-1)
    with pytest.raises(ValueError, match="history"):
        lbfgs(ridge, jnp.zeros(8), params, history=0)
    with pytest.raises(ValueError, match="tol"):
        lbfgs(ridge, jnp.zeros(8), params, tol=-1.0)
    with pytest.raises(ValueError, match=r"prox.*\(8,\)"):
        proximal_gradient(ridge, lambda v, p, s: v[:4], jnp.zeros(8), params)
    with pytest.raises(ValueError, match="stepsize"):
        proximal_gradient(ridge, lambda v, p, s: v, jnp.zeros(8), params, stepsize=0.0)
    with pytest.raises(ValueError, match=r"shape \(3, 3\)"):
        simplex_kl_step(jnp.full(8, 0.125), jnp.zeros(8), 1.0, (3, 3))
    with pytest.raises(ValueError, match="kl_step"):
        mirror_descent(ridge, lambda x, g, eta: x.sum(), jnp.full(8, 0.125), params)


# ----------------------------------------------------------------------------- run_if

def test_run_if_selects_per_instance_and_keeps_its_branch_in_the_loop():
    """Under vmap, run_if gives fn's value where pred holds and the default elsewhere; XLA keeps the
    expensive branch (an SVD here) inside its loop rather than hoisting it to run unconditionally."""
    rng = np.random.default_rng(0)
    M = jnp.asarray(rng.normal(size=(8, 5, 5)))
    pred = jnp.asarray(rng.random(8) < 0.5)
    f = jax.jit(jax.vmap(lambda M, p: run_if(p, lambda M: jnp.linalg.svd(M)[1], (M,), -jnp.ones(5))))
    out = f(M, pred)
    expected = np.where(np.asarray(pred)[:, None], np.linalg.svd(np.asarray(M))[1], -1.0)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(f(M, jnp.zeros(8, bool)), -np.ones((8, 5)))
    hlo = f.lower(M, pred).compile().as_text()
    entry = hlo[hlo.index("\nENTRY"):]
    entry = entry[:entry.index("\n}")]
    assert "gesdd" in hlo and "gesdd" not in entry


def test_per_instance_maps_instances_one_by_one_on_cpu_with_shared_and_missing_arguments():
    """vmap of a per_instance function gives each instance's own result (a while loop with per-instance step
    counts), shares unbatched arguments, accepts None leaves, and on a CPU runs no batched loop predicate."""
    def doublings(x, limit, unused):
        return lax.while_loop(lambda v: v[0] < limit, lambda v: (2 * v[0], v[1] + 1), (x, jnp.zeros((), jnp.int32)))

    xs = jnp.asarray([1.0, 3.0, 0.01, 100.0, 7.0, 0.5, 2.0, 40.0])
    f = jax.jit(jax.vmap(per_instance(doublings), in_axes=(0, None, None)))
    value, count = f(xs, 50.0, None)
    expected = [doublings(x, 50.0, None) for x in xs]
    np.testing.assert_array_equal(value, [float(v) for v, _ in expected])
    np.testing.assert_array_equal(count, [int(k) for _, k in expected])
    hlo = f.lower(xs, 50.0, None).compile().as_text()
    assert "while" in hlo and "pred[8]" not in hlo
