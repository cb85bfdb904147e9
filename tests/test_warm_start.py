"""Warm start on every route: re-solving from the previous solution at a nearby parameter takes fewer iterations.

Each case solves cold at ``θ0``, then at ``θ1 = θ0 + δ`` both cold and from the
``θ0`` solution (``init=``); the warm solve must take fewer iterations and reach
the same answer.
"""

import jax
import numpy as np
import pytest

import optdsl as od

jax.config.update("jax_enable_x64", True)

rng = np.random.default_rng(0)
M, N = 30, 12
A0 = rng.standard_normal((M, N))
b0 = rng.standard_normal(M)
c0 = rng.standard_normal(N)


def _least_squares(x, b):
    return 0.5 * od.sum_squares(A0 @ x - b)


def _stationary():
    x, b = od.Variable(N, name="x"), od.Parameter(M, name="b")
    obj = od.sum(od.logistic(A0 @ x)) - b @ (A0 @ x) + 0.1 * od.sum_squares(x)
    return od.Problem(od.Minimize(obj)), "stationary", {"solver": "lbfgs"}, {"b": rng.uniform(0, 1, M)}


def _projected():
    x, b = od.Variable(N, name="x"), od.Parameter(M, name="b")
    return od.Problem(od.Minimize(_least_squares(x, b)), [x >= -0.2, x <= 0.2]), "projected_gradient", {}, {"b": b0}


def _proximal():
    x, b = od.Variable(N, name="x"), od.Parameter(M, name="b")
    return od.Problem(od.Minimize(_least_squares(x, b) + 2.0 * od.norm1(x))), "proximal_gradient", {}, {"b": b0}


def _mirror():
    x, c = od.Variable(N, name="x"), od.Parameter(N, name="c")
    obj = od.sum_squares(A0 @ x) / M + c @ x
    return (od.Problem(od.Minimize(obj), [x >= 0, od.sum(x) == 1]), "mirror", {"method": "mirror"},
            {"c": 0.1 * c0})


def _kkt_qp():
    x, c = od.Variable(N, name="x"), od.Parameter(N, name="c")
    obj = 0.5 * od.sum_squares(A0 @ x) / M + c @ x
    return od.Problem(od.Minimize(obj), [A0[:10] @ x <= 1, od.sum(x) == 1]), "kkt", {}, {"c": c0}


def _kkt_nlp():
    x, c = od.Variable(N, name="x"), od.Parameter(N, name="c")
    obj = od.sum(od.exp(x / 4)) + c @ x
    return od.Problem(od.Minimize(obj), [od.sum_squares(x) <= 4]), "kkt", {"method": "kkt"}, {"c": c0}


def _conic():
    x, b = od.Variable(N, name="x"), od.Parameter(M, name="b")
    return (od.Problem(od.Minimize(od.norm2(A0 @ x - b) + 0.3 * od.norm1(x)), [od.sum(x) == 1]), "conic", {},
            {"b": b0})


CASES = {"stationary": _stationary, "projected_gradient": _projected, "proximal_gradient": _proximal,
         "mirror": _mirror, "kkt_qp": _kkt_qp, "kkt_nlp": _kkt_nlp, "conic": _conic}


@pytest.mark.parametrize("case", CASES)
def test_a_warm_start_at_a_nearby_parameter_takes_fewer_iterations(case):
    problem, method, options, params = CASES[case]()
    solve = problem.compile(**options)
    assert solve.method == method
    (name, value), = params.items()
    first = solve(**params)
    nearby = {name: value * (1 + 1e-3) + 1e-3}
    cold, warm = solve(**nearby), solve(**nearby, init=first)
    assert od.runtime.status.describe(int(cold.status)) == "solved"
    assert od.runtime.status.describe(int(warm.status)) == "solved"
    assert int(warm.iterations) < int(cold.iterations), (int(warm.iterations), int(cold.iterations))
    for v in cold.values:
        np.testing.assert_allclose(warm[v], cold[v], atol=1e-5)


def test_a_solution_of_another_route_is_accepted_as_a_start_and_changes_no_answer():
    problem, _, _, params = _kkt_qp()
    first = problem.compile(method="conic")(**params)
    again = problem.compile()(**params, init=first)
    np.testing.assert_allclose(again["x"], first["x"], atol=1e-5)


def test_a_batch_of_previous_solutions_warm_starts_a_batch():
    problem, _, _, params = _kkt_qp()
    solve = problem.compile()
    cs = np.stack([c0 * (1 + 0.1 * k) for k in range(4)])
    first = jax.vmap(lambda c: solve(c=c))(cs)
    cold = jax.vmap(lambda c: solve(c=c))(cs + 1e-3)
    warm = jax.vmap(lambda c, s: solve(c=c, init=s))(cs + 1e-3, first)
    assert np.all(np.asarray(warm.iterations) < np.asarray(cold.iterations))
    np.testing.assert_allclose(warm["x"], cold["x"], atol=1e-6)
