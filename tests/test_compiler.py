"""Compiler I behaviour: analysis, method choice and overrides, the CompiledProblem call, errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optdsl as od
from optdsl.compiler import CompileError, analyze
from optdsl.runtime.compiled import ParameterError


def _lasso():
    rng = np.random.default_rng(0)
    A0 = rng.normal(size=(20, 8))
    b0 = A0 @ rng.normal(size=8) + 0.1 * rng.normal(size=20)
    x = od.Variable(8, name="x")
    A, b, lam = od.Parameter((20, 8), name="A"), od.Parameter(20, name="b"), od.Parameter(nonneg=True, name="lam")
    problem = od.Problem(od.Minimize(0.5 * od.sum_squares(A @ x - b) + lam * od.norm1(x)))
    return problem, {"A": jnp.asarray(A0), "b": jnp.asarray(b0), "lam": jnp.asarray(2.0)}


def test_call_conventions_and_solution_access():
    problem, params = _lasso()
    solve = problem.compile()
    by_dict, by_kwargs = solve(params), solve(**params)
    np.testing.assert_array_equal(by_dict.x, by_kwargs["x"])
    assert by_dict.status_name() == "solved"
    assert by_dict.iterations > 0 and by_dict.residual < 1e-8
    expected = 0.5 * jnp.sum((params["A"] @ by_dict.x - params["b"]) ** 2) + 2.0 * jnp.sum(jnp.abs(by_dict.x))
    np.testing.assert_allclose(by_dict.objective, expected, rtol=1e-12)


def test_warm_start_from_a_solution_takes_few_iterations():
    problem, params = _lasso()
    solve = problem.compile()
    cold = solve(params)
    warm = solve(params, init=cold)
    assert int(warm.iterations) <= 1 < int(cold.iterations)
    np.testing.assert_allclose(warm.x, cold.x, atol=1e-9)


def test_parameter_errors_name_the_parameter():
    problem, params = _lasso()
    solve = problem.compile()
    with pytest.raises(ParameterError, match=r"missing parameters \['lam'\]"):
        solve(A=params["A"], b=params["b"])
    with pytest.raises(ParameterError, match=r"unknown parameters \['mu'\]"):
        solve(**params, mu=1.0)
    with pytest.raises(ParameterError, match=r"parameter 'b' has shape \(19,\), expected \(20,\)"):
        solve(**{**params, "b": params["b"][:19]})
    with pytest.raises(ParameterError, match="given twice"):
        solve({"lam": 1.0}, **params)


def test_maximize_is_minimising_the_negation():
    x = od.Variable(3, name="x")
    c = od.Parameter(3, name="c")
    problem = od.Problem(od.Maximize(c @ x - 0.5 * od.sum_squares(x)))
    c0 = jnp.asarray([1.0, -2.0, 0.5])
    sol = problem.compile()(c=c0)
    np.testing.assert_allclose(sol.x, c0, atol=1e-10)
    np.testing.assert_allclose(sol.objective, 0.5 * jnp.sum(c0 ** 2), atol=1e-10)
    np.testing.assert_allclose(jax.grad(lambda c: problem.compile()(c=c).objective)(c0), c0, atol=1e-8)


@pytest.mark.parametrize("solver", ["newton", "lbfgs", "newton_cg"])
def test_stationary_solvers_agree(solver):
    rng = np.random.default_rng(1)
    A0, b0 = rng.normal(size=(15, 5)), rng.normal(size=15)
    x = od.Variable(5, name="x")
    A, b = od.Parameter((15, 5), name="A"), od.Parameter(15, name="b")
    problem = od.Problem(od.Minimize(od.sum(od.logistic(A @ x - b)) + od.sum_squares(x)))
    solve = problem.compile(solver=solver)
    assert solve.method == "stationary"
    grad = jax.grad(lambda b: jnp.sum(solve(A=A0, b=b).x ** 2))(jnp.asarray(b0))
    reference = problem.compile(solver="newton")
    expected = jax.grad(lambda b: jnp.sum(reference(A=A0, b=b).x ** 2))(jnp.asarray(b0))
    np.testing.assert_allclose(grad, expected, atol=1e-8)


def test_unrolled_gradients_approach_implicit_ones():
    problem, params = _lasso()
    implicit = problem.compile()
    unrolled = problem.compile(diff="unrolled", maxiter=300)
    loss = lambda s: lambda lam: jnp.sum(s({**params, "lam": lam}).x ** 2)  # noqa: E731
    g_implicit = jax.grad(loss(implicit))(2.0)
    g_unrolled = jax.grad(loss(unrolled))(2.0)
    np.testing.assert_allclose(g_unrolled, g_implicit, rtol=1e-4)


def test_method_overrides_and_impossible_ones():
    problem, params = _lasso()
    with pytest.raises(CompileError, match="does not apply.*non-smooth"):
        problem.compile(method="stationary")
    with pytest.raises(CompileError, match="method='mirror' needs every variable on a probability simplex"):
        problem.compile(method="mirror")
    with pytest.raises(CompileError, match="unknown method 'newton'"):
        problem.compile(method="newton")
    with pytest.raises(CompileError, match="solver 'lbfgs' does not run method 'proximal_gradient'"):
        problem.compile(solver="lbfgs")
    with pytest.raises(CompileError, match="unknown diff mode"):
        problem.compile(diff="finite")
    with pytest.raises(CompileError, match="unknown linear_solve"):
        problem.compile(linear_solve="svd")
    ista = problem.compile(solver="ista")
    np.testing.assert_allclose(ista(params).x, problem.compile()(params).x, atol=1e-7)


def test_projected_problem_accepts_proximal_gradient_request():
    x = od.Variable(4, name="x", nonneg=True)
    c = od.Parameter(4, name="c")
    solve = od.Problem(od.Minimize(od.sum_squares(x - c))).compile(method="proximal_gradient")
    assert solve.method == "projected_gradient"
    np.testing.assert_allclose(solve(c=jnp.asarray([1.0, -1.0, 2.0, -3.0])).x, [1.0, 0.0, 2.0, 0.0], atol=1e-10)


def test_non_dcp_problem_raises_unless_nonconvex():
    x = od.Variable(2, name="x")
    problem = od.Problem(od.Minimize(od.sum(od.sin(x)) + od.sum_squares(x)))
    with pytest.raises(od.DCPError, match="sin"):
        problem.compile()
    sol = problem.compile(nonconvex=True)()
    # stationarity of sin(x) + x^2: cos(x) + 2x = 0
    np.testing.assert_allclose(jnp.cos(sol.x) + 2 * sol.x, 0.0, atol=1e-9)


def test_general_constraints_are_reported_and_lowered_to_kkt():
    x = od.Variable(3, name="x")
    G = od.Parameter((2, 3), name="G")
    problem = od.Problem(od.Minimize(od.sum_squares(x)), [G @ x <= 1, x >= 0])
    structure = analyze(problem)
    assert [str(c) for c in structure.leftover_constraints] == ["G @ x <= 1"]
    assert [s.kind for s in structure.sets] == ["nonneg"]
    assert problem.compile().method == "kkt"  # general constraints go to the KKT lowering


AFFINE = np.array([[1.0, 2.0, 0.0, -1.0], [0.5, 0.0, 1.0, 1.0]])


@pytest.mark.parametrize("constraints, kind", [
    (lambda x: [x >= 0, x <= 1], "box"),
    (lambda x: [x >= 0, od.sum(x) == 2], "simplex"),
    (lambda x: [x >= 0, x <= 1, od.sum(x) == 2], "box_section"),
    (lambda x: [od.norm1(x) <= 1], "l1_ball"),
    (lambda x: [od.norm_inf(x) <= 1], "linf_ball"),
    (lambda x: [np.arange(4.0) @ x == 1], "hyperplane"),
    (lambda x: [np.arange(4.0) @ x <= 1], "halfspace"),
    (lambda x: [AFFINE @ x == np.ones(2)], "affine"),
])
def test_recognised_sets_project_correctly(constraints, kind):
    """Each recognised set gives the projection of a point: min ||x - c||^2 over the set, vs cvxpy."""
    import cvxpy as cp

    x = od.Variable(4, name="x")
    c = od.Parameter(4, name="c")
    problem = od.Problem(od.Minimize(od.sum_squares(x - c)), constraints(x))
    assert [s.kind for s in analyze(problem).sets] == [kind]
    c0 = np.array([0.9, -0.4, 1.7, 0.25])
    xc = cp.Variable(4)
    cons = {"box": [xc >= 0, xc <= 1], "simplex": [xc >= 0, cp.sum(xc) == 2],
            "box_section": [xc >= 0, xc <= 1, cp.sum(xc) == 2], "l1_ball": [cp.norm1(xc) <= 1],
            "linf_ball": [cp.norm_inf(xc) <= 1], "hyperplane": [np.arange(4.0) @ xc == 1],
            "halfspace": [np.arange(4.0) @ xc <= 1],
            "affine": [AFFINE @ xc == np.ones(2)]}[kind]
    cp.Problem(cp.Minimize(cp.sum_squares(xc - c0)), cons).solve(solver="CLARABEL", tol_gap_abs=1e-10,
                                                                 tol_gap_rel=1e-10, tol_feas=1e-10)
    np.testing.assert_allclose(problem.compile()(c=c0).x, xc.value, atol=1e-6)


def test_explain_names_the_method_and_map(capsys):
    problem, _ = _lasso()
    text = problem.compile().explain()
    assert capsys.readouterr().out == "" and repr(text) == text  # returned, shown as plain lines at a prompt
    assert "tol=1e-10 in float64, 1.2e-05 in float32 (the default), maxiter=20000" in text
    for fragment in ["minimize 0.5 * sum_squares(A @ x - b) + lam * norm1(x)", "method: proximal_gradient",
                     "prox_{ηg}(z - η ∇_z f(z, θ)) - z", "non-smooth term: lam * norm1(x)", "x (8,) -> z[0:8]",
                     "implicit: custom_root on F"]:
        assert fragment in text


def test_conditions_latex_renders_the_generated_map():
    problem, _ = _lasso()
    text = problem.compile().conditions_latex()
    assert r"\operatorname{prox}_{\eta g}" in text and r"\left\|x\right\|_{1}" in text
    x = od.Variable(3, name="x")
    c = od.Parameter(3, name="c")
    kkt = od.Problem(od.Minimize(od.sum_squares(x - c)), [c @ x <= 1, x[0] == x[1]]).compile()
    text = kkt.conditions_latex()
    assert r"\partial_z H(z, \theta)^\top \nu" in text and r"\lambda \circ G(z, \theta) = 0" in text
    assert r"x_{0} = x_{1}" in text and r"\leq 1" in text
    stationary = od.Problem(od.Minimize(od.sum_squares(x - c))).compile().conditions_latex()
    assert r"\nabla_z f(z, \theta) = 0" in stationary
