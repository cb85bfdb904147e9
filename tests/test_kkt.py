"""The KKT lowering: QPs with general constraints, duals, derivatives, statuses, degenerate points."""

from __future__ import annotations

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optdsl as od
from optdsl.compiler import CompileError
from optdsl.runtime import status

CLARABEL = dict(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)


def optnet_qp(seed: int, n: int = 6, m: int = 8, p: int = 2):
    """An OptNet-style QP: min 0.5 x'Qx + q'x  s.t.  Gx <= h, Ax == b (feasible by construction)."""
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(n, n))
    G0, A0 = rng.normal(size=(m, n)), rng.normal(size=(p, n))
    x_feasible = rng.normal(size=n)
    params = {"Q": M @ M.T + np.eye(n), "q": rng.normal(size=n), "G": G0, "h": G0 @ x_feasible + rng.random(m),
              "A": A0, "b": A0 @ x_feasible}
    x = od.Variable(n, name="x")
    Q, q = od.Parameter((n, n), name="Q"), od.Parameter(n, name="q")
    G, h = od.Parameter((m, n), name="G"), od.Parameter(m, name="h")
    A, b = od.Parameter((p, n), name="A"), od.Parameter(p, name="b")
    problem = od.Problem(od.Minimize(0.5 * od.quad_form(x, Q) + q @ x),
                         [(G @ x <= h).named("ineq"), (A @ x == b).named("eq")])
    return problem, params


def cvxpy_qp(p):
    x = cp.Variable(p["q"].shape[0])
    ineq, eq = p["G"] @ x <= p["h"], p["A"] @ x == p["b"]
    prob = cp.Problem(cp.Minimize(0.5 * cp.quad_form(x, cp.psd_wrap(p["Q"])) + p["q"] @ x), [ineq, eq])
    prob.solve(**CLARABEL)
    return x.value, ineq.dual_value, eq.dual_value


@pytest.fixture(scope="module")
def qp():
    problem, params = optnet_qp(0)
    return problem, params, problem.compile()


def _j(params):
    return {k: jnp.asarray(v) for k, v in params.items()}


def test_solution_and_duals_match_cvxpy(qp):
    problem, params, solve = qp
    assert solve.method == "kkt"
    sol = solve(_j(params))
    x, lam, nu = cvxpy_qp(params)
    assert int(sol.status) == status.SOLVED and not bool(sol.singular)
    np.testing.assert_allclose(sol.x, x, atol=1e-6)
    np.testing.assert_allclose(sol.dual("ineq"), lam, atol=1e-6)
    np.testing.assert_allclose(sol.dual(problem.constraints[1]), nu, atol=1e-6)
    assert float(sol.residual) < 1e-8


def test_gradients_wrt_every_parameter_match_finite_differences(qp):
    _, params, solve = qp
    p = _j(params)

    def loss(p):
        sol = solve(p)
        return jnp.sum(jnp.sin(sol.x)) + jnp.sum(sol.duals["ineq"] ** 2) + jnp.sum(sol.duals["eq"])

    grads = jax.jit(jax.grad(loss))(p)
    loss_jit = jax.jit(loss)
    rng = np.random.default_rng(1)
    for name in p:
        d = jnp.asarray(rng.normal(size=p[name].shape))
        h = 1e-6
        fd = (loss_jit({**p, name: p[name] + h * d}) - loss_jit({**p, name: p[name] - h * d})) / (2 * h)
        np.testing.assert_allclose(jnp.vdot(grads[name], d), fd, rtol=1e-5, atol=1e-7, err_msg=name)


def test_jacfwd_equals_jacrev_and_vmap(qp):
    _, params, solve = qp
    p = _j(params)
    x_of = lambda p: solve(p).x  # noqa: E731
    fwd, rev = jax.jit(jax.jacfwd(x_of))(p), jax.jit(jax.jacrev(x_of))(p)
    for name in p:
        np.testing.assert_allclose(fwd[name], rev[name], atol=1e-8)
    rng = np.random.default_rng(2)
    batch = {k: jnp.stack([v + 0.01 * rng.normal(size=v.shape) if k in ("q", "h") else v for _ in range(8)])
             for k, v in p.items()}
    batched = jax.jit(jax.vmap(solve))(batch)
    for i in range(8):
        single = solve({k: v[i] for k, v in batch.items()})
        np.testing.assert_allclose(batched.x[i], single.x, atol=1e-9)


def test_lp_by_kkt_matches_cvxpy():
    rng = np.random.default_rng(3)
    n, m = 5, 9
    G0 = rng.normal(size=(m, n))
    h0 = G0 @ rng.normal(size=n) + rng.random(m)
    c0 = -G0.T @ rng.random(m)  # a dual-feasible cost: the LP is bounded
    x = od.Variable(n, name="x")
    c, G, h = od.Parameter(n, name="c"), od.Parameter((m, n), name="G"), od.Parameter(m, name="h")
    problem = od.Problem(od.Minimize(c @ x), [G @ x <= h])
    sol = problem.compile(method="kkt")(c=c0, G=G0, h=h0)
    xc = cp.Variable(n)
    cp.Problem(cp.Minimize(c0 @ xc), [G0 @ xc <= h0]).solve(**CLARABEL)
    np.testing.assert_allclose(sol.x, xc.value, atol=1e-6)


def test_infeasible_and_unbounded_are_reported():
    x = od.Variable(2, name="x")
    c = od.Parameter(2, name="c")
    infeasible = od.Problem(od.Minimize(od.sum_squares(x - c)), [x[0] + x[1] <= -1, x >= 0])
    assert int(infeasible.compile()(c=jnp.ones(2)).status) == status.INFEASIBLE
    unbounded = od.Problem(od.Minimize(c @ x), [x >= 0])
    assert int(unbounded.compile()(c=jnp.asarray([-1.0, 1.0])).status) == status.UNBOUNDED


def test_kkt_on_a_first_order_model_agrees_with_projected_gradient():
    x = od.Variable(5, name="x")
    c = od.Parameter(5, name="c")
    problem = od.Problem(od.Minimize(od.sum_squares(x - c)), [x >= 0, od.sum(x) == 1])
    c0 = jnp.asarray([0.3, -0.2, 0.9, 0.1, 0.45])
    kkt_grad = jax.jacfwd(lambda c: problem.compile(method="kkt")(c=c).x)(c0)
    pg_grad = jax.jacfwd(lambda c: problem.compile()(c=c).x)(c0)
    np.testing.assert_allclose(kkt_grad, pg_grad, atol=1e-7)


def test_degenerate_qp_is_flagged_and_smoothed_mode_differentiates_the_relaxed_problem():
    """x = proj_[0, inf)(c) at c_0 = 0: strict complementarity fails for the first coordinate."""
    x = od.Variable(2, name="x")
    c = od.Parameter(2, name="c")
    problem = od.Problem(od.Minimize(0.5 * od.sum_squares(x - c)), [x >= 0])
    c0 = jnp.asarray([0.0, 1.0])
    exact = problem.compile(method="kkt")
    sol = exact(c=c0)
    assert bool(sol.singular)
    assert np.all(np.isfinite(jax.jacfwd(lambda c: exact(c=c).x)(c0)))

    smoothed = problem.compile(method="kkt", diff="smoothed")
    assert not bool(smoothed(c=c0).singular)
    jac = jax.jacfwd(lambda c: smoothed(c=c).x)(c0)
    assert np.all(np.isfinite(jac))
    h = 1e-5
    for i in range(2):
        e = jnp.zeros(2).at[i].set(h)
        fd = (smoothed(c=c0 + e).x - smoothed(c=c0 - e).x) / (2 * h)
        np.testing.assert_allclose(jac[:, i], fd, atol=1e-5)
    # the relaxed solution solves x_i (x_i - c_i) = mu: at c_0 = 0 the derivative is 1/2
    np.testing.assert_allclose(jac[0, 0], 0.5, atol=1e-3)


def test_kkt_rejects_what_it_cannot_lower():
    x = od.Variable(3, name="x")
    problem = od.Problem(od.Minimize(od.norm1(x)), [od.sum(x) >= 1])
    with pytest.raises(CompileError, match="smooth objective"):
        problem.compile(method="kkt")
    with pytest.raises(CompileError, match="diff='unrolled'"):
        od.Problem(od.Minimize(od.sum_squares(x)), [od.sum(x) >= 1]).compile(method="kkt", diff="unrolled")


def test_nonconvex_nlp_rosenbrock_on_a_disk_matches_scipy():
    """A non-convex smooth model (nonconvex=True): the NLP interior point finds the local solution SLSQP finds."""
    from scipy.optimize import minimize

    x = od.Variable(2, name="x")
    r, b = od.Parameter(nonneg=True, name="r"), od.Parameter(name="b")
    rosenbrock = (1 - x[0]) ** 2 + b * (x[1] - x[0] ** 2) ** 2
    problem = od.Problem(od.Minimize(rosenbrock), [(od.sum_squares(x) <= r).named("disk")])
    with pytest.raises(od.DCPError):
        problem.compile()
    solve = problem.compile(nonconvex=True)
    assert solve.method == "kkt"

    def reference(r0, b0):
        res = minimize(lambda v: (1 - v[0]) ** 2 + b0 * (v[1] - v[0] ** 2) ** 2, np.zeros(2), method="SLSQP",
                       constraints=[{"type": "ineq", "fun": lambda v: r0 - v @ v}], tol=1e-14)
        return res.x

    sol = solve(r=1.0, b=100.0)
    assert sol.status_name() == "solved"
    np.testing.assert_allclose(sol.x, reference(1.0, 100.0), atol=1e-6)
    params = {"r": jnp.asarray(1.0), "b": jnp.asarray(100.0)}
    loss = lambda p: jnp.sum(solve(p).x ** 2) + solve(p).dual("disk")  # noqa: E731
    grads = jax.grad(loss)(params)
    for name in params:
        h = 1e-6
        fd = (loss({**params, name: params[name] + h}) - loss({**params, name: params[name] - h})) / (2 * h)
        np.testing.assert_allclose(grads[name], fd, rtol=1e-5, atol=1e-9, err_msg=name)
    fwd = jax.jacfwd(lambda p: solve(p).x)(params)
    rev = jax.jacrev(lambda p: solve(p).x)(params)
    for name in params:
        np.testing.assert_allclose(fwd[name], rev[name], atol=1e-9)
    batch = {"r": jnp.linspace(0.5, 1.5, 8), "b": jnp.full(8, 100.0)}
    batched = jax.jit(jax.vmap(solve))(batch)
    for i in (0, 7):
        np.testing.assert_allclose(batched.x[i], reference(float(batch["r"][i]), 100.0), atol=1e-6)
