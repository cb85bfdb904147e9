"""Duals on the first-order routes: each recognised set's constraint duals, against cvxpy + Clarabel.

The projected- and proximal-gradient routes recover every set constraint's dual
from the objective's gradient at the solution. Over seeded random data they
must equal cvxpy's ``dual_value`` (same sign convention), and be differentiable:
the derivative of a dual in the data matches central finite differences.
"""

import zlib

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optdsl as od

jax.config.update("jax_enable_x64", True)

N = 5
A_DUP = np.array([[1.0, 2.0, 0.0, -1.0, 0.5], [1.0, 2.0, 0.0, -1.0, 0.5], [0.0, 1.0, 1.0, 1.0, 0.0]])
A_TALL = np.random.default_rng(3).normal(size=(N + 2, 3)) @ np.random.default_rng(4).normal(size=(3, N))
B_TALL = A_TALL @ np.linspace(-1.0, 1.0, N)
WEIGHTS = np.arange(1.0, N + 1)


def _sets(x):
    """Each set's constraints, written the same way for both libraries (``x`` an optdsl or cvxpy variable)."""
    total = od.sum if isinstance(x, od.Variable) else cp.sum
    norms = ((od.norm1, od.norm2, od.norm_inf) if isinstance(x, od.Variable)
             else (lambda v: cp.norm(v, 1), cp.norm2, lambda v: cp.norm(v, "inf")))
    return {
        "box": [x >= -0.4, x <= 0.6],
        "fixed_and_bound": [x <= 0.3, x >= -1.0],
        "simplex": [x >= 0, total(x) == 1.5],
        "box_section": [x >= -0.5, x <= 0.5, total(x) == 0.8],
        "sum": [total(x) == 2.0],
        "hyperplane": [WEIGHTS @ x == 1.0],
        "halfspace": [WEIGHTS @ x <= -2.0],
        "duplicated_rows": [A_DUP @ x == A_DUP @ np.linspace(1.0, -1.0, N)],
        "more_rows_than_columns": [A_TALL @ x == B_TALL],
        "l1_ball": [norms[0](x) <= 0.7],
        "l2_ball": [norms[1](x) <= 0.7],
        "linf_ball": [norms[2](x) <= 0.3],
    }


KINDS = list(_sets(od.Variable(N)))
#: Dependent rows leave the dual free along the null space of ``A^T``: compare the force ``A^T nu`` instead.
DEPENDENT_ROWS = {"duplicated_rows": A_DUP, "more_rows_than_columns": A_TALL}


def _reference(kind, c):
    x = cp.Variable(N)
    constraints = _sets(x)[kind]
    cp.Problem(cp.Minimize(cp.sum_squares(x - c)), constraints).solve(solver=cp.CLARABEL, tol_gap_abs=1e-10,
                                                                      tol_gap_rel=1e-10, tol_feas=1e-10)
    return x.value, [np.asarray(con.dual_value) for con in constraints]


@pytest.fixture(scope="module")
def compiled():
    x = od.Variable(N, name="x")
    c = od.Parameter(N, name="c")
    sets = _sets(x)
    return {kind: (od.Problem(od.Minimize(od.sum_squares(x - c)), sets[kind]).compile(), sets[kind]) for kind in KINDS}


def _comparable(kind, duals):
    if kind in DEPENDENT_ROWS:
        (nu,) = duals
        return [DEPENDENT_ROWS[kind].T @ nu]
    return duals


@pytest.mark.parametrize("kind", KINDS)
def test_set_duals_match_cvxpy(compiled, kind):
    solve, constraints = compiled[kind]
    assert solve.method == "projected_gradient"
    rng = np.random.default_rng(zlib.crc32(kind.encode()))  # str hashes differ between processes
    data = rng.normal(size=(6, N)) * 1.5
    sols = jax.vmap(lambda c: solve(c=c))(data)
    for i, c in enumerate(data):
        x_ref, duals_ref = _reference(kind, c)
        assert int(sols.status[i]) == 0
        np.testing.assert_allclose(sols["x"][i], x_ref, atol=1e-6)
        ours = [np.asarray(sols.dual(con)[i]) for con in constraints]
        for got, want in zip(_comparable(kind, ours), _comparable(kind, duals_ref)):
            np.testing.assert_allclose(got, np.broadcast_to(want, got.shape), atol=2e-6)


def test_cone_duals_match_cvxpy():
    t, x, c = od.Variable(name="t"), od.Variable(N, name="x"), od.Parameter(N, name="c")
    soc = od.SOC(t, x)
    solve = od.Problem(od.Minimize(od.sum_squares(x - c) + (t - 0.5) ** 2), [soc]).compile()
    S, C = od.Variable((3, 3), name="S"), od.Parameter((3, 3), name="C")
    psd = S >> 0
    solve_psd = od.Problem(od.Minimize(od.sum_squares(S - C)), [psd]).compile()
    assert (solve.method, solve_psd.method) == ("projected_gradient", "projected_gradient")
    rng = np.random.default_rng(11)
    for _ in range(3):
        cv = rng.normal(size=N) * 2
        tc, xc = cp.Variable(), cp.Variable(N)
        cone = cp.SOC(tc, xc)
        cp.Problem(cp.Minimize(cp.sum_squares(xc - cv) + cp.square(tc - 0.5)), [cone]).solve(solver=cp.CLARABEL)
        want = np.concatenate([np.ravel(cone.dual_value[0]), np.ravel(cone.dual_value[1])])
        np.testing.assert_allclose(solve(c=cv).dual(soc), want, atol=1e-6)
        M = rng.normal(size=(3, 3))
        M = M + M.T
        Sc = cp.Variable((3, 3), symmetric=True)
        cone = Sc >> 0
        cp.Problem(cp.Minimize(cp.sum_squares(Sc - M)), [cone]).solve(solver=cp.CLARABEL)
        np.testing.assert_allclose(solve_psd(C=M).dual(psd), cone.dual_value, atol=1e-6)


def test_an_absorbed_nonnegative_orthant_has_a_dual_that_certifies_the_lasso():
    x, c = od.Variable(N, name="x"), od.Parameter(N, name="c")
    nonneg = x >= 0
    solve = od.Problem(od.Minimize(od.sum_squares(x - c) + 0.7 * od.norm1(x)), [nonneg]).compile()
    assert solve.method == "proximal_gradient"
    cv = np.array([1.0, -1.0, 0.2, 0.5, -0.1])
    sol = solve(c=cv)
    mu, xv = np.asarray(sol.dual(nonneg)), np.asarray(sol["x"])
    # On the orthant 0.7 * norm1(x) = 0.7 * sum(x): stationarity 2 (x - c) + 0.7 - mu = 0, mu >= 0, mu x = 0.
    np.testing.assert_allclose(2 * (xv - cv) + 0.7 - mu, 0, atol=1e-8)
    assert np.all(mu >= 0) and np.allclose(mu * xv, 0, atol=1e-10)


@pytest.mark.parametrize("kind", ["simplex", "box_section", "hyperplane", "l2_ball"])
def test_set_duals_are_differentiable(compiled, kind):
    solve, constraints = compiled[kind]
    c0 = np.random.default_rng(5).normal(size=N) * 1.5
    weights = np.random.default_rng(6).normal(size=np.shape(solve(c=c0).dual(constraints[-1])))
    loss = jax.jit(lambda c: jnp.sum(weights * solve(c=c).dual(constraints[-1])))
    grad = jax.grad(loss)(jnp.asarray(c0))
    h = 1e-6
    fd = [(loss(c0 + h * e) - loss(c0 - h * e)) / (2 * h) for e in np.eye(N)]
    np.testing.assert_allclose(grad, fd, atol=1e-6)
