"""cvxpylayers' JAX test-suite (``tests/test_jax.py`` and ``tests/test_dual_variables_jax.py`` of
cvxpylayers, Apache-2.0) run with ``od.Layer`` in place of ``CvxpyLayer``.

The problems are cvxpy's and built as there; the data and the assertions are theirs. What differs:
every test runs with float64 and (with ``-m slow``) float32 inputs; ``solver_args`` (SCS/Clarabel settings) are
dropped; an infeasible or unbounded instance is reported in the layer's per-instance status instead
of raising ``diffcp.SolverError`` (a jitted layer cannot raise); the error messages are optdsl's,
each carrying the phrase cvxpylayers' test looks for. cvxpylayers skips ``test_entropy_maximization``:
its data make the problem infeasible (``x >= 0`` for ``entr`` and ``A x == b`` with ``b = A tmp``, ``tmp``
of mixed signs), so instead of its gradient check, both Clarabel and the layer must say so. Tests that solve one
problem share it (a module fixture): its layers then share one compilation.
"""

from __future__ import annotations

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import random
from jax.test_util import check_grads

import optdsl as od


# float32 builds and compiles every layer a second time; it runs with the long checks (``-m slow``).
@pytest.fixture(params=[jnp.float64, pytest.param(jnp.float32, marks=pytest.mark.slow)], ids=["float64", "float32"])
def dtype(request):
    return request.param


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def least_squares_layer():
    m, n = 100, 20
    A = cp.Parameter((m, n))
    b = cp.Parameter(m)
    x = cp.Variable(n)
    obj = cp.sum_squares(A @ x - b) + cp.sum_squares(x)
    prob = cp.Problem(cp.Minimize(obj))
    return od.Layer(prob, [A, b], [x]), m, n


@pytest.fixture(scope="module")
def least_squares():
    return least_squares_layer()


# ------------------------------------------------------------------------------------------------
# test_jax.py
# ------------------------------------------------------------------------------------------------


def test_example(dtype):
    key = random.PRNGKey(0)

    n, m = 2, 3
    x = cp.Variable(n)
    A = cp.Parameter((m, n))
    b = cp.Parameter(m)
    constraints = [x >= 0]
    objective = cp.Minimize(0.5 * cp.pnorm(A @ x - b, p=1))
    problem = cp.Problem(objective, constraints)
    assert problem.is_dpp()

    cvxpylayer = od.Layer(problem, parameters=[A, b], variables=[x])

    key, k1, k2 = random.split(key, num=3)
    A_jax = random.normal(k1, shape=(m, n), dtype=dtype)
    b_jax = random.normal(k2, shape=(m,), dtype=dtype)

    (solution,) = cvxpylayer(A_jax, b_jax)

    def sum_sol(A_jax, b_jax):
        (solution,) = cvxpylayer(A_jax, b_jax)
        return solution.sum()

    dsum_sol = jax.grad(sum_sol)
    dsum_sol(A_jax, b_jax)


def test_simple_batch_socp(dtype):
    key = random.PRNGKey(0)
    n = 5
    m = 1
    batch_size = 4

    P_sqrt = cp.Parameter((n, n), name="P_sqrt")
    q = cp.Parameter((n, 1), name="q")
    A = cp.Parameter((m, n), name="A")
    b = cp.Parameter((m, 1), name="b")

    x = cp.Variable((n, 1), name="x")

    objective = 0.5 * cp.sum_squares(P_sqrt @ x) + q.T @ x
    constraints = [A @ x == b, cp.norm(x) <= 1]
    prob = cp.Problem(cp.Minimize(objective), constraints)

    prob_jax = od.Layer(prob, [P_sqrt, q, A, b], [x])

    key, k1, k2, k3, k4 = random.split(key, num=5)
    P_sqrt_jax = random.normal(k1, shape=(batch_size, n, n), dtype=dtype)
    q_jax = random.normal(k2, shape=(batch_size, n, 1), dtype=dtype)
    A_jax = random.normal(k3, shape=(batch_size, m, n), dtype=dtype)
    b_jax = random.normal(k4, shape=(batch_size, m, 1), dtype=dtype)

    def f(*params):
        (sol,) = prob_jax(*params)
        return sum(sol)

    check_grads(f, (P_sqrt_jax, q_jax, A_jax, b_jax), order=1, modes=["rev"])


def test_least_squares(least_squares, dtype):
    key = random.PRNGKey(0)
    prob_jax, m, n = least_squares

    key, k1, k2 = random.split(key, num=3)
    A_jax = random.normal(k1, shape=(m, n), dtype=dtype)
    b_jax = random.normal(k2, shape=(m,), dtype=dtype)

    def lstsq_sum_cp(A_jax, b_jax):
        x = prob_jax(A_jax, b_jax)[0]
        return sum(x)

    def lstsq_sum_linalg(A_jax, b_jax):
        x = jnp.linalg.solve(A_jax.T @ A_jax + jnp.eye(n), A_jax.T @ b_jax)
        return sum(x)

    d_lstsq_sum_cp = jax.grad(lstsq_sum_cp, [0, 1])
    d_lstsq_sum_linalg = jax.grad(lstsq_sum_linalg, [0, 1])

    grad_A_cvxpy, grad_b_cvxpy = d_lstsq_sum_cp(A_jax, b_jax)
    grad_A_lstsq, grad_b_lstsq = d_lstsq_sum_linalg(A_jax, b_jax)

    assert np.isclose(jnp.linalg.norm(grad_A_cvxpy - grad_A_lstsq).item(), 0.0, atol=1e-6)
    assert np.isclose(jnp.linalg.norm(grad_b_cvxpy - grad_b_lstsq).item(), 0.0, atol=1e-6)


def test_logistic_regression(dtype):
    key = random.PRNGKey(0)

    N, n = 5, 2

    key, k1, k2, k3 = random.split(key, num=4)
    X_np = random.normal(k1, shape=(N, n), dtype=dtype)
    a_true = random.normal(k2, shape=(n, 1), dtype=dtype)
    y_np = jnp.round(sigmoid(X_np @ a_true + random.normal(k3, shape=(N, 1), dtype=dtype) * 0.5))

    X_jax = jnp.array(X_np)
    lam_jax = 0.1 * jnp.ones(1, dtype=dtype)

    a = cp.Variable((n, 1))
    X = cp.Parameter((N, n))
    lam = cp.Parameter(1, nonneg=True)
    y = np.asarray(y_np)

    log_likelihood = cp.sum(
        cp.multiply(y, X @ a)
        - cp.log_sum_exp(cp.hstack([np.zeros((N, 1)), X @ a]).T, axis=0, keepdims=True).T,
    )
    prob = cp.Problem(cp.Minimize(-log_likelihood + lam * cp.sum_squares(a)))

    fit_logreg = od.Layer(prob, [X, lam], [a])

    check_grads(fit_logreg, (X_jax, lam_jax), order=1, modes=["rev"])


def test_entropy_maximization(dtype):
    key = random.PRNGKey(0)
    n, m, p = 5, 3, 2

    key, k1, k2, k3, k4 = random.split(key, num=5)
    tmp = random.normal(k1, shape=(n,), dtype=dtype)
    A_np = random.normal(k2, shape=(m, n), dtype=dtype)
    b_np = A_np.dot(tmp)
    F_np = random.normal(k3, shape=(p, n), dtype=dtype)
    g_np = F_np.dot(tmp) + random.normal(k4, shape=(p,), dtype=dtype)

    x = cp.Variable(n)
    A = cp.Parameter((m, n))
    b = cp.Parameter(m)
    F = cp.Parameter((p, n))
    g = cp.Parameter(p)
    obj = cp.Maximize(cp.sum(cp.entr(x)) - 0.01 * cp.sum_squares(x))
    constraints = [A @ x == b, F @ x <= g]
    prob = cp.Problem(obj, constraints)
    layer = od.Layer(prob, [A, b, F, g], [x])

    A_jax, b_jax, F_jax, g_jax = map(lambda x: jnp.array(x), [A_np, b_np, F_np, g_np])

    _, solution = layer(A_jax, b_jax, F_jax, g_jax, return_solution=True)
    A.value, b.value, F.value, g.value = map(np.asarray, [A_np, b_np, F_np, g_np])
    prob.solve(solver=cp.CLARABEL)
    assert prob.status == od.Layer.status_names(solution.status) == "infeasible"


def test_lml(dtype):
    k = 2
    x = cp.Parameter(4)
    y = cp.Variable(4)
    obj = -x @ y - cp.sum(cp.entr(y)) - cp.sum(cp.entr(1.0 - y))
    cons = [cp.sum(y) == k]
    prob = cp.Problem(cp.Minimize(obj), cons)
    lml = od.Layer(prob, [x], [y])

    x_th = jnp.array([1.0, -1.0, -1.0, -1.0], dtype=dtype)
    check_grads(lml, (x_th,), order=1, modes=["rev"])


def test_sdp(dtype):
    n = 3
    X = cp.Variable((n, n), symmetric=True)
    C = cp.Parameter((n, n), symmetric=True)

    psd_con = X >> 0
    trace_con = cp.trace(X) == 1
    prob = cp.Problem(cp.Minimize(cp.trace(C @ X)), [psd_con, trace_con])

    layer = od.Layer(prob, parameters=[C], variables=[X])

    C_jax = jnp.array([[2.0, 0.5, 0.1], [0.5, 3.0, 0.2], [0.1, 0.2, 1.5]], dtype=dtype)

    check_grads(layer, (C_jax,), order=1, modes=["rev"], atol=1e-4, rtol=1e-3)


def test_not_enough_parameters():
    x = cp.Variable(1)
    lam = cp.Parameter(1, nonneg=True)
    lam2 = cp.Parameter(1, nonneg=True)
    objective = lam * cp.norm(x, 1) + lam2 * cp.sum_squares(x)
    prob = cp.Problem(cp.Minimize(objective))
    with pytest.raises(ValueError, match="must exactly match problem.parameters"):
        od.Layer(prob, [lam], [x])


def test_not_enough_parameters_at_call_time(dtype):
    x = cp.Variable(1)
    lam = cp.Parameter(1, nonneg=True)
    lam2 = cp.Parameter(1, nonneg=True)
    objective = lam * cp.norm(x, 1) + lam2 * cp.sum_squares(x)
    prob = cp.Problem(cp.Minimize(objective))
    layer = od.Layer(prob, [lam, lam2], [x])
    lam_jax = jnp.ones(1, dtype=dtype)
    with pytest.raises(ValueError, match="A value must be provided for each parameter.*"):
        layer(lam_jax)


def test_too_many_variables():
    x = cp.Variable(1)
    y = cp.Variable(1)
    lam = cp.Parameter(1, nonneg=True)
    objective = lam * cp.norm(x, 1)
    prob = cp.Problem(cp.Minimize(objective))
    with pytest.raises(ValueError, match="must be a subset of problem.variables"):
        od.Layer(prob, [lam], [x, y])


def test_infeasible(dtype):
    x = cp.Variable(1)
    param = cp.Parameter(1)
    prob = cp.Problem(cp.Minimize(param), [x >= 1, x <= -1])
    layer = od.Layer(prob, [param], [x])
    param_jax = jnp.ones(1, dtype=dtype)
    _, solution = layer(param_jax, return_solution=True)
    assert od.Layer.status_names(solution.status) == "infeasible"


def test_unbounded(dtype):
    x = cp.Variable(1)
    param = cp.Parameter(1)
    prob = cp.Problem(cp.Minimize(x), [x <= param])
    layer = od.Layer(prob, [param], [x])
    param_jax = jnp.ones(1, dtype=dtype)
    _, solution = layer(param_jax, return_solution=True)
    assert od.Layer.status_names(solution.status) == "unbounded"


def test_incorrect_parameter_shape(least_squares, dtype):
    key = random.PRNGKey(0)
    prob_th, m, n = least_squares

    key, k1, k2 = random.split(key, num=3)
    A_th = random.normal(k1, shape=(32, m, n), dtype=dtype)
    b_th = random.normal(k2, shape=(20, m), dtype=dtype)

    with pytest.raises(ValueError, match="Inconsistent batch sizes"):
        prob_th(A_th, b_th)

    key, k1, k2 = random.split(key, num=3)
    A_th = random.normal(k1, shape=(32, m, n), dtype=dtype)
    b_th = random.normal(k2, shape=(32, 2 * m), dtype=dtype)

    with pytest.raises(ValueError, match="Invalid parameter shape"):
        prob_th(A_th, b_th)

    key, k1, k2 = random.split(key, num=3)
    A_th = random.normal(k1, shape=(m, n), dtype=dtype)
    b_th = random.normal(k2, shape=(2 * m,), dtype=dtype)

    with pytest.raises(ValueError, match="Invalid parameter shape"):
        prob_th(A_th, b_th)

    key, k1, k2 = random.split(key, num=3)
    A_th = random.normal(k1, shape=(32, m, n), dtype=dtype)
    b_th = random.normal(k2, shape=(32, 32, m), dtype=dtype)

    with pytest.raises(ValueError, match="Invalid parameter dimensionality"):
        prob_th(A_th, b_th)


def test_broadcasting(least_squares, dtype):
    key = random.PRNGKey(0)
    prob_jax, m, n = least_squares

    key, k1, k2 = random.split(key, num=3)
    A_jax = random.normal(k1, shape=(m, n), dtype=dtype)
    b_jax_0 = random.normal(k2, shape=(m,), dtype=dtype)
    b_jax = jnp.stack((b_jax_0, b_jax_0))

    def lstsq_sum_cp(A_jax, b_jax):
        x = prob_jax(A_jax, b_jax)[0]
        return jnp.sum(x)

    def lstsq_sum_linalg(A_jax, b_jax):
        x = jnp.linalg.solve(A_jax.T @ A_jax + jnp.eye(n), A_jax.T @ b_jax)
        return sum(x)

    d_lstsq_sum_cp = jax.grad(lstsq_sum_cp, [0, 1])
    d_lstsq_sum_linalg = jax.grad(lstsq_sum_linalg, [0, 1])

    grad_A_lstsq, grad_b_lstsq = d_lstsq_sum_linalg(A_jax, b_jax_0)
    grad_A_cvxpy, grad_b_cvxpy = d_lstsq_sum_cp(A_jax, b_jax)

    assert np.isclose(jnp.linalg.norm(grad_A_cvxpy / 2.0 - grad_A_lstsq).item(), 0.0, atol=1e-6)
    assert np.isclose(jnp.linalg.norm(grad_b_cvxpy[0] - grad_b_lstsq).item(), 0.0, atol=1e-6)


def test_shared_parameter(dtype):
    key = random.PRNGKey(0)
    m, n = 10, 5

    A = cp.Parameter((m, n))
    x = cp.Variable(n)
    key, k1, k2 = random.split(key, num=3)
    b1 = np.asarray(random.normal(k1, shape=(m,), dtype=dtype))
    b2 = np.asarray(random.normal(k2, shape=(m,), dtype=dtype))
    prob1 = cp.Problem(cp.Minimize(cp.sum_squares(A @ x - b1)))
    layer1 = od.Layer(prob1, parameters=[A], variables=[x])
    prob2 = cp.Problem(cp.Minimize(cp.sum_squares(A @ x - b2)))
    layer2 = od.Layer(prob2, parameters=[A], variables=[x])

    key, k1 = random.split(key, num=2)
    A_jax = random.normal(k1, shape=(m, n), dtype=dtype)

    def f(A_jax):
        (x1,) = layer1(A_jax)
        (x2,) = layer2(A_jax)
        return jnp.concatenate((x1, x2))

    check_grads(f, [A_jax], order=1, modes=["rev"])


def test_equality(dtype):
    key = random.PRNGKey(0)
    n = 10
    A = np.eye(n)
    x = cp.Variable(n)
    b = cp.Parameter(n)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(x)), [A @ x == b])
    layer = od.Layer(prob, parameters=[b], variables=[x])

    key, k1 = random.split(key, num=2)
    b_jax = random.normal(k1, shape=(n,), dtype=dtype)

    check_grads(layer, [b_jax], order=1, modes=["rev"])


def gp_problem(a, b, c):
    x = cp.Variable(pos=True)
    y = cp.Variable(pos=True)
    z = cp.Variable(pos=True)
    objective_fn = 1 / (x * y * z)
    constraints = [a * (x * y + x * z + y * z) <= b, x >= y**c]
    return cp.Problem(cp.Minimize(objective_fn), constraints), (x, y, z)


def test_basic_gp(dtype):
    a = cp.Parameter(pos=True, value=2.0)
    b = cp.Parameter(pos=True, value=1.0)
    c = cp.Parameter(value=0.5)
    problem, (x, y, z) = gp_problem(a, b, c)
    problem.solve(cp.CLARABEL, gp=True)

    layer = od.Layer(problem, parameters=[a, b, c], variables=[x, y, z], gp=True)
    a_jax = jnp.array(2.0, dtype=dtype)
    b_jax = jnp.array(1.0, dtype=dtype)
    c_jax = jnp.array(0.5, dtype=dtype)
    x_jax, y_jax, z_jax = layer(a_jax, b_jax, c_jax)

    assert np.isclose(x.value, x_jax, atol=1e-5)
    assert np.isclose(y.value, y_jax, atol=1e-5)
    assert np.isclose(z.value, z_jax, atol=1e-5)

    check_grads(lambda a, b, c: jnp.sum(layer(a, b, c)[0]), [a_jax, b_jax, c_jax], order=1, modes=["rev"])


def test_batched_gp(dtype):
    a = cp.Parameter(pos=True, value=2.0)
    b = cp.Parameter(pos=True, value=1.0)
    c = cp.Parameter(value=0.5)
    problem, (x, y, z) = gp_problem(a, b, c)

    layer = od.Layer(problem, parameters=[a, b, c], variables=[x, y, z], gp=True)

    batch_size = 4
    a_batch = jnp.array([2.0, 1.5, 2.5, 1.8], dtype=dtype)
    b_batch = jnp.array([1.0, 1.2, 0.8, 1.5], dtype=dtype)
    c_batch = jnp.array([0.5, 0.6, 0.4, 0.5], dtype=dtype)

    x_batch, y_batch, z_batch = layer(a_batch, b_batch, c_batch)

    assert x_batch.shape == (batch_size,)
    assert y_batch.shape == (batch_size,)
    assert z_batch.shape == (batch_size,)

    for i in range(batch_size):
        a.value = float(a_batch[i])
        b.value = float(b_batch[i])
        c.value = float(c_batch[i])
        problem.solve(cp.CLARABEL, gp=True)

        assert np.allclose(x.value, x_batch[i], atol=1e-4, rtol=1e-4), f"Mismatch in batch {i} for x"
        assert np.allclose(y.value, y_batch[i], atol=1e-4, rtol=1e-4), f"Mismatch in batch {i} for y"
        assert np.allclose(z.value, z_batch[i], atol=1e-4, rtol=1e-4), f"Mismatch in batch {i} for z"

    check_grads(lambda a, b, c: jnp.sum(layer(a, b, c)[0]), [a_batch, b_batch, c_batch], order=1, modes=["rev"])


def test_gp_without_param_values(dtype):
    a = cp.Parameter(pos=True, name="a")
    b = cp.Parameter(pos=True, name="b")
    c = cp.Parameter(name="c")
    problem, (x, y, z) = gp_problem(a, b, c)

    layer = od.Layer(problem, parameters=[a, b, c], variables=[x, y, z], gp=True)

    a_jax = jnp.array(2.0, dtype=dtype)
    b_jax = jnp.array(1.0, dtype=dtype)
    c_jax = jnp.array(0.5, dtype=dtype)

    x_jax, y_jax, z_jax = layer(a_jax, b_jax, c_jax)

    a.value = 2.0
    b.value = 1.0
    c.value = 0.5
    problem.solve(cp.CLARABEL, gp=True)

    assert np.isclose(x.value, x_jax, atol=1e-5)
    assert np.isclose(y.value, y_jax, atol=1e-5)
    assert np.isclose(z.value, z_jax, atol=1e-5)

    check_grads(lambda a, b, c: jnp.sum(layer(a, b, c)[0]), [a_jax, b_jax, c_jax], order=1, modes=["rev"])


def small_least_squares(dtype):
    key = random.PRNGKey(0)
    m, n = 10, 5
    A = cp.Parameter((m, n))
    b = cp.Parameter(m)
    x = cp.Variable(n)
    obj = cp.sum_squares(A @ x - b) + cp.sum_squares(x)
    prob = cp.Problem(cp.Minimize(obj))
    layer = od.Layer(prob, [A, b], [x])
    key, k1, k2 = random.split(key, num=3)
    return layer, random.normal(k1, shape=(m, n), dtype=dtype), random.normal(k2, shape=(m,), dtype=dtype)


def test_jax_jit_forward(dtype):
    layer, A_jax, b_jax = small_least_squares(dtype)

    (solution_no_jit,) = layer(A_jax, b_jax)

    @jax.jit
    def solve_jitted(A_val, b_val):
        (sol,) = layer(A_val, b_val)
        return sol

    solution_jit = solve_jitted(A_jax, b_jax)

    assert np.allclose(solution_no_jit, solution_jit, atol=1e-5)


def test_jax_jit_backward(dtype):
    layer, A_jax, b_jax = small_least_squares(dtype)

    def sum_sol(A_val, b_val):
        (sol,) = layer(A_val, b_val)
        return jnp.sum(sol)

    grad_no_jit = jax.grad(sum_sol, argnums=(0, 1))(A_jax, b_jax)

    @jax.jit
    def sum_sol_jitted(A_val, b_val):
        (sol,) = layer(A_val, b_val)
        return jnp.sum(sol)

    grad_jit = jax.grad(sum_sol_jitted, argnums=(0, 1))(A_jax, b_jax)

    assert np.allclose(grad_no_jit[0], grad_jit[0], atol=1e-5)
    assert np.allclose(grad_no_jit[1], grad_jit[1], atol=1e-5)


# ------------------------------------------------------------------------------------------------
# test_dual_variables_jax.py
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def simplex_lp():
    n = 2
    x = cp.Variable(n)
    c = cp.Parameter(n)
    b = cp.Parameter()
    eq_con = cp.sum(x) == b
    ineq_con = x >= 0
    return cp.Problem(cp.Minimize(c @ x), [eq_con, ineq_con]), x, c, b, eq_con, ineq_con


def test_equality_constraint_dual(simplex_lp, dtype):
    prob, x, c, b, eq_con, _ = simplex_lp
    layer = od.Layer(prob, parameters=[c, b], variables=[x, eq_con.dual_variables[0]])

    c_jax = jnp.array([1.0, 2.0], dtype=dtype)
    b_jax = jnp.array(1.0, dtype=dtype)

    x_opt, eq_dual = layer(c_jax, b_jax)

    c.value = np.array(c_jax)
    b.value = float(b_jax)
    prob.solve(solver=cp.CLARABEL)

    np.testing.assert_allclose(np.array(x_opt), x.value, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(np.array(eq_dual), eq_con.dual_value, rtol=1e-3, atol=1e-4)


def test_inequality_constraint_dual(dtype):
    n = 2
    x = cp.Variable(n)
    c = cp.Parameter(n)

    ineq_con = x >= 0
    prob = cp.Problem(cp.Minimize(c @ x + cp.sum_squares(x)), [ineq_con])

    layer = od.Layer(prob, parameters=[c], variables=[x, ineq_con.dual_variables[0]])

    c_jax = jnp.array([1.0, -1.0], dtype=dtype)

    x_opt, ineq_dual = layer(c_jax)

    c.value = np.array(c_jax)
    prob.solve(solver=cp.CLARABEL)

    np.testing.assert_allclose(np.array(x_opt), x.value, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(np.array(ineq_dual), ineq_con.dual_value, rtol=1e-3, atol=1e-4)


def test_multiple_dual_variables(simplex_lp, dtype):
    prob, x, c, b, eq_con, ineq_con = simplex_lp
    layer = od.Layer(prob, parameters=[c, b],
                     variables=[x, eq_con.dual_variables[0], ineq_con.dual_variables[0]])

    c_jax = jnp.array([1.0, 2.0], dtype=dtype)
    b_jax = jnp.array(1.0, dtype=dtype)

    x_opt, eq_dual, ineq_dual = layer(c_jax, b_jax)

    c.value = np.array(c_jax)
    b.value = float(b_jax)
    prob.solve(solver=cp.CLARABEL)

    np.testing.assert_allclose(np.array(x_opt), x.value, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(np.array(eq_dual), eq_con.dual_value, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(np.array(ineq_dual), ineq_con.dual_value, rtol=1e-3, atol=1e-4)


def test_dual_only(simplex_lp, dtype):
    prob, x, c, b, eq_con, _ = simplex_lp
    layer = od.Layer(prob, parameters=[c, b], variables=[eq_con.dual_variables[0]])

    c_jax = jnp.array([1.0, 2.0], dtype=dtype)
    b_jax = jnp.array(1.0, dtype=dtype)

    (eq_dual,) = layer(c_jax, b_jax)

    c.value = np.array(c_jax)
    b.value = float(b_jax)
    prob.solve(solver=cp.CLARABEL)

    np.testing.assert_allclose(np.array(eq_dual), eq_con.dual_value, rtol=1e-3, atol=1e-4)


def test_batched_dual_variables(simplex_lp, dtype):
    n = 2
    batch_size = 3
    prob, x, c, b, eq_con, _ = simplex_lp
    layer = od.Layer(prob, parameters=[c, b], variables=[x, eq_con.dual_variables[0]])

    key = jax.random.PRNGKey(42)
    c_jax = jax.random.normal(key, (batch_size, n), dtype=dtype)
    b_jax = jnp.ones(batch_size, dtype=dtype)

    x_opt, eq_dual = layer(c_jax, b_jax)

    assert x_opt.shape == (batch_size, n)
    assert eq_dual.shape == (batch_size,)

    for i in range(batch_size):
        c.value = np.array(c_jax[i])
        b.value = float(b_jax[i])
        prob.solve(solver=cp.CLARABEL)

        np.testing.assert_allclose(np.array(x_opt[i]), x.value, rtol=1e-2, atol=1e-3)
        np.testing.assert_allclose(np.array(eq_dual[i]), eq_con.dual_value, rtol=1e-2, atol=1e-3)


def test_dual_gradient(simplex_lp, dtype):
    prob, x, c, b, eq_con, _ = simplex_lp
    layer = od.Layer(prob, parameters=[c, b], variables=[x, eq_con.dual_variables[0]])

    c_jax = jnp.array([1.0, 2.0], dtype=dtype)
    b_jax = jnp.array(1.0, dtype=dtype)

    def loss_fn(c, b):
        _, eq_dual = layer(c, b)
        return jnp.sum(eq_dual)

    grads = jax.grad(loss_fn, argnums=[0, 1])(c_jax, b_jax)

    assert grads[0] is not None
    assert grads[1] is not None
    assert jnp.isfinite(grads[0]).all()
    assert jnp.isfinite(grads[1]).all()


def test_dual_gradcheck_equality(dtype):
    n = 2
    x = cp.Variable(n)
    c = cp.Parameter(n)
    b = cp.Parameter()

    eq_con = cp.sum(x) == b
    prob = cp.Problem(cp.Minimize(c @ x + 0.5 * cp.sum_squares(x)), [eq_con])

    layer = od.Layer(prob, parameters=[c, b], variables=[x, eq_con.dual_variables[0]])

    def f(c_jax, b_jax):
        _, eq_dual = layer(c_jax, b_jax)
        return eq_dual

    c_jax = jnp.array([0.5, -0.3], dtype=dtype)
    b_jax = jnp.array(1.0, dtype=dtype)

    check_grads(f, (c_jax, b_jax), order=1, modes=["rev"], atol=1e-4, rtol=1e-3)


def test_dual_gradcheck_inequality(dtype):
    n = 2
    x = cp.Variable(n)
    c = cp.Parameter(n)

    ineq_con = x >= 0
    prob = cp.Problem(cp.Minimize(c @ x + 0.5 * cp.sum_squares(x)), [ineq_con])

    layer = od.Layer(prob, parameters=[c], variables=[x, ineq_con.dual_variables[0]])

    def f(c_jax):
        _, ineq_dual = layer(c_jax)
        return ineq_dual

    c_jax = jnp.array([1.0, -1.0], dtype=dtype)

    check_grads(f, (c_jax,), order=1, modes=["rev"], atol=1e-4, rtol=1e-3)


def test_soc_constraint_dual(dtype):
    n = 3
    x = cp.Variable(n)
    c = cp.Parameter(n)
    t = cp.Parameter(nonneg=True)

    soc_con = cp.norm(x) <= t
    prob = cp.Problem(cp.Minimize(c @ x), [soc_con])

    layer = od.Layer(prob, parameters=[c, t], variables=[x, soc_con.dual_variables[0]])

    c_jax = jnp.array([1.0, 0.5, -0.5], dtype=dtype)
    t_jax = jnp.array(2.0, dtype=dtype)

    x_opt, soc_dual = layer(c_jax, t_jax)

    c.value = np.array(c_jax)
    t.value = float(t_jax)
    prob.solve(solver=cp.CLARABEL)

    np.testing.assert_allclose(np.array(x_opt), x.value, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(np.array(soc_dual), soc_con.dual_value, rtol=1e-3, atol=1e-4)


def test_psd_constraint_dual(dtype):
    n = 2
    X = cp.Variable((n, n), symmetric=True)
    C = cp.Parameter((n, n), symmetric=True)

    psd_con = X >> 0
    trace_con = cp.trace(X) == 1
    prob = cp.Problem(cp.Minimize(cp.trace(C @ X)), [psd_con, trace_con])

    layer = od.Layer(prob, parameters=[C], variables=[X, psd_con.dual_variables[0]])

    C_np = np.array([[1.0, 0.5], [0.5, 2.0]])
    C_jax = jnp.array(C_np, dtype=dtype)

    X_opt, psd_dual = layer(C_jax)

    C.value = C_np
    prob.solve(solver=cp.CLARABEL)

    np.testing.assert_allclose(np.array(X_opt), X.value, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(np.array(psd_dual), psd_con.dual_value, rtol=1e-3, atol=1e-4)


def test_gp_inequality_constraint_dual(dtype):
    x = cp.Variable(pos=True)
    y = cp.Variable(pos=True)
    z = cp.Variable(pos=True)

    a = cp.Parameter(pos=True)
    b = cp.Parameter(pos=True)

    ineq_con = a * (x * y + x * z + y * z) <= b
    prob = cp.Problem(cp.Minimize(1 / (x * y * z)), [ineq_con])
    assert prob.is_dgp(dpp=True)

    layer = od.Layer(prob, parameters=[a, b], variables=[x, y, z, ineq_con.dual_variables[0]], gp=True)

    a_jax = jnp.array(2.0, dtype=dtype)
    b_jax = jnp.array(1.0, dtype=dtype)

    x_opt, y_opt, z_opt, ineq_dual = layer(a_jax, b_jax)

    a.value = float(a_jax)
    b.value = float(b_jax)
    prob.solve(solver=cp.CLARABEL, gp=True)

    np.testing.assert_allclose(float(x_opt), x.value, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(float(y_opt), y.value, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(float(z_opt), z.value, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(float(ineq_dual), ineq_con.dual_value, rtol=1e-3, atol=1e-4)
