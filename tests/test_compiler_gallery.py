"""Compiler I gallery: models written in the DSL, solved and differentiated end to end.

Each model is checked (float64) for: the solution against cvxpy + Clarabel or a
closed form; the gradient of a scalar function of the solution with respect to
every parameter against central finite differences; ``jacfwd == jacrev``; ``jit``
and ``vmap`` over 8 parameter sets; and the method the compiler chose. A float32
run of every model checks the solution with a looser tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optdsl as od


@dataclass
class Model:
    name: str
    problem: od.Problem
    params: dict[str, np.ndarray]
    method: str
    reference: Callable[[dict], dict[str, np.ndarray]]  # params -> solution by variable name
    perturb: Callable[[dict, np.random.Generator], dict]  # a nearby parameter set (for vmap)
    options: dict = field(default_factory=dict)
    tol: float = 1e-5


def _solve_cvxpy(objective, constraints, variables):
    cp.Problem(objective, constraints).solve(solver="CLARABEL", tol_gap_abs=1e-9, tol_gap_rel=1e-9,
                                             tol_feas=1e-9, max_iter=500)
    return {name: v.value for name, v in variables.items()}


def _regression_data(seed, m=20, n=8):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(m, n))
    return A, A @ rng.normal(size=n) + 0.5 * rng.normal(size=m)


def _shift_b(params, rng):
    return {**params, "b": params["b"] + 0.05 * rng.normal(size=params["b"].shape)}


def ridge() -> Model:
    A0, b0 = _regression_data(0)
    x = od.Variable(8, name="x")
    A, b, lam = od.Parameter((20, 8), name="A"), od.Parameter(20, name="b"), od.Parameter(nonneg=True, name="lam")
    problem = od.Problem(od.Minimize(0.5 * od.sum_squares(A @ x - b) + 0.5 * lam * od.sum_squares(x)))

    def closed(p):
        n = p["A"].shape[1]
        return {"x": np.linalg.solve(p["A"].T @ p["A"] + p["lam"] * np.eye(n), p["A"].T @ p["b"])}

    return Model("ridge", problem, {"A": A0, "b": b0, "lam": np.array(2.0)}, "stationary", closed, _shift_b)


def logistic() -> Model:
    rng = np.random.default_rng(1)
    X0 = rng.normal(size=(30, 5))
    y0 = np.where(X0 @ rng.normal(size=5) + 0.5 * rng.normal(size=30) > 0, 1.0, -1.0)
    w = od.Variable(5, name="w")
    X, y, lam = od.Parameter((30, 5), name="X"), od.Parameter(30, name="y"), od.Parameter(nonneg=True, name="lam")
    problem = od.Problem(od.Minimize(od.sum(od.logistic(-od.multiply(y, X @ w))) + lam * od.sum_squares(w)))

    def reference(p):
        wc = cp.Variable(5)
        obj = cp.Minimize(cp.sum(cp.logistic(-cp.multiply(p["y"], p["X"] @ wc))) + p["lam"] * cp.sum_squares(wc))
        return _solve_cvxpy(obj, [], {"w": wc})

    perturb = lambda p, r: {**p, "X": p["X"] + 0.05 * r.normal(size=p["X"].shape)}  # noqa: E731
    return Model("logistic", problem, {"X": X0, "y": y0, "lam": np.array(0.5)}, "stationary", reference, perturb)


def lasso(elastic: bool = False) -> Model:
    A0, b0 = _regression_data(2)
    x = od.Variable(8, name="x")
    A, b = od.Parameter((20, 8), name="A"), od.Parameter(20, name="b")
    lam, mu = od.Parameter(nonneg=True, name="lam"), od.Parameter(nonneg=True, name="mu")
    objective = 0.5 * od.sum_squares(A @ x - b) + lam * od.norm1(x)
    params = {"A": A0, "b": b0, "lam": np.array(3.0)}
    if elastic:
        objective = objective + 0.5 * mu * od.sum_squares(x)
        params["mu"] = np.array(1.5)

    def reference(p):
        xc = cp.Variable(8)
        obj = 0.5 * cp.sum_squares(p["A"] @ xc - p["b"]) + p["lam"] * cp.norm1(xc)
        if elastic:
            obj = obj + 0.5 * p["mu"] * cp.sum_squares(xc)
        return _solve_cvxpy(cp.Minimize(obj), [], {"x": xc})

    return Model("elastic_net" if elastic else "lasso", od.Problem(od.Minimize(objective)), params,
                 "proximal_gradient", reference, _shift_b)


def group_lasso() -> Model:
    rng = np.random.default_rng(3)
    A0 = rng.normal(size=(24, 12))
    b0 = A0 @ np.concatenate([rng.normal(size=6), np.zeros(6)]) + 0.3 * rng.normal(size=24)
    W = od.Variable((4, 3), name="W")  # 4 groups of 3 coefficients, one group a row
    A, b, lam = od.Parameter((24, 12), name="A"), od.Parameter(24, name="b"), od.Parameter(nonneg=True, name="lam")
    problem = od.Problem(od.Minimize(0.5 * od.sum_squares(A @ od.reshape(W, 12) - b)
                                     + lam * od.sum(od.norm2(W, axis=1))))

    def reference(p):
        Wc = cp.Variable((4, 3))
        obj = 0.5 * cp.sum_squares(p["A"] @ cp.reshape(Wc, 12, order="C") - p["b"]) \
            + p["lam"] * cp.sum(cp.norm(Wc, 2, axis=1))
        return _solve_cvxpy(cp.Minimize(obj), [], {"W": Wc})

    return Model("group_lasso", problem, {"A": A0, "b": b0, "lam": np.array(4.0)}, "proximal_gradient",
                 reference, _shift_b)


def huber() -> Model:
    A0, b0 = _regression_data(4)
    b0 = b0 + np.where(np.arange(20) % 5 == 0, 6.0, 0.0)  # outliers
    x = od.Variable(8, name="x")
    A, b = od.Parameter((20, 8), name="A"), od.Parameter(20, name="b")
    problem = od.Problem(od.Minimize(od.sum(od.huber(A @ x - b, 1.0)) + 0.1 * od.sum_squares(x)))

    def reference(p):
        xc = cp.Variable(8)
        obj = cp.sum(cp.huber(p["A"] @ xc - p["b"], 1.0)) + 0.1 * cp.sum_squares(xc)
        return _solve_cvxpy(cp.Minimize(obj), [], {"x": xc})

    return Model("huber", problem, {"A": A0, "b": b0}, "stationary", reference, _shift_b)


def nnls() -> Model:
    A0, b0 = _regression_data(5)
    x = od.Variable(8, name="x", nonneg=True)
    A, b = od.Parameter((20, 8), name="A"), od.Parameter(20, name="b")
    problem = od.Problem(od.Minimize(0.5 * od.sum_squares(A @ x - b)))

    def reference(p):
        xc = cp.Variable(8, nonneg=True)
        return _solve_cvxpy(cp.Minimize(0.5 * cp.sum_squares(p["A"] @ xc - p["b"])), [], {"x": xc})

    return Model("nnls", problem, {"A": A0, "b": b0}, "projected_gradient", reference, _shift_b)


def box_qp() -> Model:
    rng = np.random.default_rng(6)
    M = rng.normal(size=(8, 8))
    x = od.Variable(8, name="x")
    Q, q = od.Parameter((8, 8), name="Q"), od.Parameter(8, name="q")
    lo, hi = od.Parameter(8, name="lo"), od.Parameter(8, name="hi")
    problem = od.Problem(od.Minimize(0.5 * od.quad_form(x, Q) + q @ x), [x >= lo, x <= hi])
    params = {"Q": M @ M.T + np.eye(8), "q": 3 * rng.normal(size=8), "lo": -np.ones(8), "hi": 0.5 * np.ones(8)}

    def reference(p):
        xc = cp.Variable(8)
        obj = cp.Minimize(0.5 * cp.quad_form(xc, cp.psd_wrap(p["Q"])) + p["q"] @ xc)
        return _solve_cvxpy(obj, [xc >= p["lo"], xc <= p["hi"]], {"x": xc})

    perturb = lambda p, r: {**p, "q": p["q"] + 0.05 * r.normal(size=8)}  # noqa: E731
    return Model("box_qp", problem, params, "projected_gradient", reference, perturb)


def simplex_ls() -> Model:
    rng = np.random.default_rng(7)
    A0 = rng.normal(size=(15, 6))
    b0 = A0 @ np.array([0.5, 0.3, 0.2, -0.4, -0.2, 0.0]) + 0.05 * rng.normal(size=15)
    x = od.Variable(6, name="x")
    A, b = od.Parameter((15, 6), name="A"), od.Parameter(15, name="b")
    problem = od.Problem(od.Minimize(0.5 * od.sum_squares(A @ x - b)), [x >= 0, od.sum(x) == 1])

    def reference(p):
        xc = cp.Variable(6)
        obj = cp.Minimize(0.5 * cp.sum_squares(p["A"] @ xc - p["b"]))
        return _solve_cvxpy(obj, [xc >= 0, cp.sum(xc) == 1], {"x": xc})

    return Model("simplex_ls", problem, {"A": A0, "b": b0}, "projected_gradient", reference, _shift_b)


def svm_dual(method: str) -> Model:
    """Multiclass SVM dual (Blondel et al. 2021, §3.1) with row-wise simplex constraints."""
    rng = np.random.default_rng(8)
    m, p, k = 10, 20, 3
    X0 = rng.normal(size=(m, p))
    Y0 = np.eye(k)[rng.integers(0, k, size=m)]
    beta = od.Variable((m, k), name="beta")
    X, Y, theta = od.Parameter((m, p), name="X"), od.Parameter((m, k), name="Y"), od.Parameter(nonneg=True, name="theta")
    W = X.T @ (Y - beta)  # p x k, scaled by 1/theta below
    problem = od.Problem(od.Minimize(0.5 * od.sum_squares(W) / theta + od.sum(od.multiply(beta, Y))),
                         [beta >= 0, od.sum(beta, axis=1) == 1])

    def reference(q):
        B = cp.Variable((m, k))
        obj = 0.5 * cp.sum_squares(q["X"].T @ (q["Y"] - B)) / q["theta"] + cp.sum(cp.multiply(B, q["Y"]))
        return _solve_cvxpy(cp.Minimize(obj), [B >= 0, cp.sum(B, axis=1) == 1], {"beta": B})

    perturb = lambda q, r: {**q, "X": q["X"] + 0.05 * r.normal(size=q["X"].shape)}  # noqa: E731
    options = {"method": "mirror"} if method == "mirror" else {}
    return Model(f"svm_dual_{method}", problem, {"X": X0, "Y": Y0, "theta": np.array(5.0)},
                 "mirror" if method == "mirror" else "projected_gradient", reference, perturb, options)


def l2_ball() -> Model:
    A0, b0 = _regression_data(9)
    x = od.Variable(8, name="x")
    A, b, r = od.Parameter((20, 8), name="A"), od.Parameter(20, name="b"), od.Parameter(nonneg=True, name="r")
    problem = od.Problem(od.Minimize(0.5 * od.sum_squares(A @ x - b)), [od.norm2(x) <= r])

    def reference(p):
        xc = cp.Variable(8)
        obj = cp.Minimize(0.5 * cp.sum_squares(p["A"] @ xc - p["b"]))
        return _solve_cvxpy(obj, [cp.norm(xc, 2) <= p["r"]], {"x": xc})

    return Model("l2_ball", problem, {"A": A0, "b": b0, "r": np.array(0.5)}, "projected_gradient",
                 reference, _shift_b)


BUILDERS = [ridge, logistic, lasso, lambda: lasso(elastic=True), group_lasso, huber, nnls, box_qp, simplex_ls,
            lambda: svm_dual("projected"), lambda: svm_dual("mirror"), l2_ball]
NAMES = ["ridge", "logistic", "lasso", "elastic_net", "group_lasso", "huber", "nnls", "box_qp", "simplex_ls",
         "svm_dual_projected", "svm_dual_mirror", "l2_ball"]


@pytest.fixture(scope="module", params=range(len(BUILDERS)), ids=NAMES)
def compiled(request):
    model = BUILDERS[request.param]()
    return model, model.problem.compile(**model.options)


def _jnp(params, dtype=jnp.float64):
    return {k: jnp.asarray(v, dtype) for k, v in params.items()}


def _loss(solve):
    def loss(params):
        sol = solve(params)
        return sum(jnp.sum(jnp.cos(v) * v) + 0.5 * jnp.sum(v) ** 2 for v in sol.values.values())

    return loss


def test_method_and_solution(compiled):
    model, solve = compiled
    assert solve.method == model.method
    sol = solve(_jnp(model.params))
    assert int(sol.status) == 0, sol.status_name()
    assert float(sol.residual) < 1e-8
    expected = model.reference(model.params)
    for name, value in expected.items():
        np.testing.assert_allclose(sol[name], value, atol=model.tol, rtol=0, err_msg=f"{model.name}: {name}")


def test_gradient_wrt_every_parameter_matches_finite_differences(compiled):
    model, solve = compiled
    params = _jnp(model.params)
    loss = jax.jit(_loss(solve))
    grads = jax.jit(jax.grad(_loss(solve)))(params)
    rng = np.random.default_rng(0)
    for name in params:
        direction = jnp.asarray(rng.normal(size=params[name].shape))
        h = 1e-6
        up = loss({**params, name: params[name] + h * direction})
        down = loss({**params, name: params[name] - h * direction})
        fd = float((up - down) / (2 * h))
        analytic = float(jnp.vdot(grads[name], direction))
        assert abs(analytic - fd) <= 1e-5 * max(1.0, abs(fd)), f"{model.name}: d/d{name} {analytic} vs FD {fd}"


def test_jacfwd_equals_jacrev(compiled):
    model, solve = compiled
    params = _jnp(model.params)
    first = lambda p: next(iter(solve(p).values.values()))  # noqa: E731
    fwd = jax.jit(jax.jacfwd(first))(params)
    rev = jax.jit(jax.jacrev(first))(params)
    for name in params:
        np.testing.assert_allclose(fwd[name], rev[name], atol=1e-8, err_msg=f"{model.name}: {name}")


def test_jit_and_vmap_over_8_parameter_sets(compiled):
    model, solve = compiled
    rng = np.random.default_rng(1)
    sets = [model.perturb(model.params, rng) for _ in range(8)]
    batch = {k: jnp.stack([jnp.asarray(s[k]) for s in sets]) for k in model.params}
    batched = jax.jit(jax.vmap(solve))(batch)
    jitted = jax.jit(solve)
    for i, s in enumerate(sets):
        single = jitted(_jnp(s))
        for name, value in single.values.items():
            np.testing.assert_allclose(batched[name][i], value, atol=1e-8, err_msg=f"{model.name}: {name}[{i}]")
    assert batched.status.shape == (8,) and bool(jnp.all(batched.status == 0))


def test_float32(compiled):
    model, solve = compiled
    sol = solve(_jnp(model.params, jnp.float32))
    expected = model.reference(model.params)
    for name, value in expected.items():
        assert sol[name].dtype == jnp.float32
        np.testing.assert_allclose(sol[name], value, atol=2e-3, err_msg=f"{model.name}: {name}")
