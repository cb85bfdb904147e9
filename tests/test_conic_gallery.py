"""Compiler II conic gallery: cone models end to end, against cvxpy + Clarabel and finite differences."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optdsl as od

CLARABEL = dict(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)


@dataclass
class Model:
    name: str
    problem: od.Problem
    params: dict[str, np.ndarray]
    reference: Callable[[dict], tuple[dict, dict]]  # params -> (variables, duals) by name
    perturb: Callable[[dict, np.random.Generator], dict]


def markowitz() -> Model:
    rng = np.random.default_rng(0)
    n = 6
    F = 0.2 * rng.normal(size=(n, n))
    L0 = np.linalg.cholesky(F @ F.T + 0.01 * np.eye(n))
    w = od.Variable(n, name="w")
    mu, L, sigma = od.Parameter(n, name="mu"), od.Parameter((n, n), name="L"), od.Parameter(nonneg=True, name="sigma")
    problem = od.Problem(od.Maximize(mu @ w), [(od.sum(w) == 1).named("budget"), w >= 0,
                                               (od.norm2(L.T @ w) <= sigma).named("risk")])

    def reference(p):
        wc = cp.Variable(n)
        budget, risk = cp.sum(wc) == 1, cp.norm(p["L"].T @ wc, 2) <= p["sigma"]
        cp.Problem(cp.Maximize(p["mu"] @ wc), [budget, wc >= 0, risk]).solve(**CLARABEL)
        return {"w": wc.value}, {"budget": budget.dual_value, "risk": risk.dual_value}

    perturb = lambda p, r: {**p, "mu": p["mu"] + 0.01 * r.normal(size=n)}  # noqa: E731
    return Model("markowitz", problem, {"mu": 0.1 * rng.normal(size=n), "L": L0, "sigma": np.array(0.15)},
                 reference, perturb)


def entropy_max() -> Model:
    rng = np.random.default_rng(1)
    n, m = 6, 2
    A0 = rng.random(size=(m, n))
    x = od.Variable(n, name="x")
    A, b = od.Parameter((m, n), name="A"), od.Parameter(m, name="b")
    problem = od.Problem(od.Maximize(od.sum(od.entropy(x))),
                         [(A @ x == b).named("moments"), (od.sum(x) == 1).named("total")])
    b0 = A0 @ np.full(n, 1.0 / n) + 0.02 * rng.normal(size=m)

    def reference(p):
        xc = cp.Variable(n)
        moments, total = p["A"] @ xc == p["b"], cp.sum(xc) == 1
        cp.Problem(cp.Maximize(cp.sum(cp.entr(xc))), [moments, total]).solve(**CLARABEL)
        # Clarabel's exp-cone duals carry ~3e-5 error here (its stationarity residual is ~2e-5), so the
        # duals come from Newton's method on the smooth Lagrange dual, where x(nu) = exp(-1 - M nu).
        M, rhs = np.vstack([p["A"], np.ones(n)]).T, np.append(p["b"], 1.0)
        nu = np.linalg.lstsq(M, -np.log(np.clip(xc.value, 1e-12, None)) - 1, rcond=None)[0]
        for _ in range(50):
            xn = np.exp(-1 - M @ nu)
            nu = nu + np.linalg.solve(M.T @ (xn[:, None] * M), M.T @ xn - rhs)
        assert np.linalg.norm(M.T @ np.exp(-1 - M @ nu) - rhs) < 1e-13
        return {"x": xc.value}, {"moments": nu[:m], "total": nu[m]}

    perturb = lambda p, r: {**p, "b": p["b"] + 0.005 * r.normal(size=m)}  # noqa: E731
    return Model("entropy_max", problem, {"A": A0, "b": b0}, reference, perturb)


def nearest_correlation() -> Model:
    rng = np.random.default_rng(2)
    n = 4
    M = rng.normal(size=(n, n))
    C0 = np.corrcoef(rng.normal(size=(n, 6))) + 0.3 * (M + M.T)
    X = od.Variable((n, n), name="X")
    C = od.Parameter((n, n), name="C")
    problem = od.Problem(od.Minimize(od.sum_squares(X - C)), [(X >> 0).named("psd"), (od.diag(X) == 1).named("unit")])

    def reference(p):
        Xc = cp.Variable((n, n), symmetric=True)
        psd, unit = Xc >> 0, cp.diag(Xc) == 1
        cp.Problem(cp.Minimize(cp.sum_squares(Xc - p["C"])), [psd, unit]).solve(**CLARABEL)
        return {"X": Xc.value}, {"unit": unit.dual_value}

    perturb = lambda p, r: {**p, "C": p["C"] + 0.01 * (lambda E: E + E.T)(r.normal(size=(n, n)))}  # noqa: E731
    return Model("nearest_correlation", problem, {"C": 0.5 * (C0 + C0.T)}, reference, perturb)


def qcqp() -> Model:
    rng = np.random.default_rng(3)
    n = 5
    x = od.Variable(n, name="x")
    c, r = od.Parameter(n, name="c"), od.Parameter(nonneg=True, name="r")
    P = rng.normal(size=(n, n))
    P0 = P @ P.T + np.eye(n)
    problem = od.Problem(od.Minimize(0.5 * od.quad_form(x, P0) + c @ x), [(od.sum_squares(x) <= r).named("ball")])

    def reference(p):
        xc = cp.Variable(n)
        ball = cp.sum_squares(xc) <= p["r"]
        cp.Problem(cp.Minimize(0.5 * cp.quad_form(xc, P0) + p["c"] @ xc), [ball]).solve(**CLARABEL)
        return {"x": xc.value}, {"ball": ball.dual_value}

    perturb = lambda p, rg: {**p, "c": p["c"] + 0.05 * rg.normal(size=n)}  # noqa: E731
    return Model("qcqp", problem, {"c": 3 * rng.normal(size=n), "r": np.array(0.5)}, reference, perturb)


def lp() -> Model:
    rng = np.random.default_rng(4)
    n, m = 5, 9
    G0 = rng.normal(size=(m, n))
    x = od.Variable(n, name="x")
    c, G, h = od.Parameter(n, name="c"), od.Parameter((m, n), name="G"), od.Parameter(m, name="h")
    problem = od.Problem(od.Minimize(c @ x), [(G @ x <= h).named("rows")])

    def reference(p):
        xc = cp.Variable(n)
        rows = p["G"] @ xc <= p["h"]
        cp.Problem(cp.Minimize(p["c"] @ xc), [rows]).solve(**CLARABEL)
        return {"x": xc.value}, {"rows": rows.dual_value}

    params = {"c": -G0.T @ rng.random(m), "G": G0, "h": G0 @ rng.normal(size=n) + rng.random(m)}
    perturb = lambda p, rg: {**p, "h": p["h"] + 0.01 * rg.random(m)}  # noqa: E731
    return Model("lp", problem, params, reference, perturb)


BUILDERS = {"markowitz": markowitz, "entropy_max": entropy_max, "nearest_correlation": nearest_correlation,
            "qcqp": qcqp, "lp": lp}


@pytest.fixture(scope="module", params=list(BUILDERS))
def compiled(request):
    model = BUILDERS[request.param]()
    return model, model.problem.compile(method="conic")


def _j(params):
    return {k: jnp.asarray(v) for k, v in params.items()}


def test_default_method_is_conic_for_cone_models():
    for name in ("markowitz", "entropy_max", "nearest_correlation", "qcqp"):
        assert BUILDERS[name]().problem.compile().method == "conic", name


def test_solution_and_duals_match_cvxpy(compiled):
    model, solve = compiled
    sol = solve(_j(model.params))
    assert sol.status_name() == "solved"
    variables, duals = model.reference(model.params)
    for name, value in variables.items():
        np.testing.assert_allclose(sol[name], value, atol=1e-5, err_msg=f"{model.name}: {name}")
    for name, value in duals.items():
        np.testing.assert_allclose(sol.dual(name), value, atol=1e-5, err_msg=f"{model.name}: dual {name}")


def test_gradients_match_finite_differences(compiled):
    model, solve = compiled
    params = _j(model.params)

    def loss(p):
        sol = solve(p)
        return sum(jnp.sum(jnp.cos(v) * v) for v in sol.values.values()) + sol.objective

    value_and_grad = jax.jit(jax.value_and_grad(loss))  # one compiled program for the gradient and the FDs
    grads = value_and_grad(params)[1]
    loss_jit = lambda p: value_and_grad(p)[0]  # noqa: E731
    rng = np.random.default_rng(5)
    for name, value in params.items():
        d = jnp.asarray(rng.normal(size=value.shape))
        if model.name == "nearest_correlation":
            d = d + d.T
        h = 1e-6
        fd = (loss_jit({**params, name: value + h * d}) - loss_jit({**params, name: value - h * d})) / (2 * h)
        np.testing.assert_allclose(jnp.vdot(grads[name], d), fd, rtol=1e-5, atol=1e-7, err_msg=f"{model.name}: {name}")


def test_jacfwd_equals_jacrev_and_vmap(compiled):
    model, solve = compiled
    params = _j(model.params)
    first = lambda p: next(iter(solve(p).values.values()))  # noqa: E731
    rng = np.random.default_rng(6)
    sets = [model.perturb(model.params, rng) for _ in range(8)]
    batch = {k: jnp.stack([jnp.asarray(s[k]) for s in sets]) for k in model.params}
    # One compiled program for both Jacobians and the batch (compilation dominates this test's time).
    fwd, rev, batched = jax.jit(lambda p, b: (jax.jacfwd(first)(p), jax.jacrev(first)(p), jax.vmap(solve)(b)))(
        params, batch)
    for name in params:
        np.testing.assert_allclose(fwd[name], rev[name], atol=1e-7, err_msg=f"{model.name}: {name}")
    for i in (0, 7):
        single = solve(_j(sets[i]))
        for name, value in single.values.items():
            np.testing.assert_allclose(batched[name][i], value, atol=1e-7, err_msg=f"{model.name}: {name}")
