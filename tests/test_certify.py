"""The model's own check: a route says "solved" only where the model's constraints hold at the returned values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optdsl as od
from optdsl.compiler.certify import constraint_violation
from optdsl.runtime.status import describe

jax.config.update("jax_enable_x64", True)

n = 6
w = od.Variable(n, name="w")
c = od.Parameter(n, name="c")
r = od.Parameter(name="r")
lo, hi = od.Parameter(name="lo"), od.Parameter(name="hi")
a = od.Parameter(n, name="a")
A = od.Parameter((3, n), name="A")
b = od.Parameter(3, name="b")
A_SPAN = np.array([[1.0, 2.0, 0.0, 0.0, 1.0, 0.0], [1.0, 2.0, 0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 1.0, 1.0, 0.0, -1.0]])

#: Models whose constraints are empty for some parameter values; the default route is a first-order one.
MODELS = {
    "budget_box": (od.Problem(od.Minimize(od.sum_squares(w - c)), [od.sum(w) == r, w >= 0, w <= hi]),
                   {"r": 1.0, "hi": 0.5}, {"r": 1.0, "hi": 0.1}),
    "crossed_box": (od.Problem(od.Minimize(od.sum_squares(w - c)), [w >= lo, w <= hi]),
                    {"lo": 0.0, "hi": 1.0}, {"lo": 1.0, "hi": 0.5}),
    "negative_simplex": (od.Problem(od.Minimize(od.sum_squares(w - c)), [w >= 0, od.sum(w) == r]),
                         {"r": 1.0}, {"r": -1.0}),
    "negative_ball": (od.Problem(od.Minimize(od.sum_squares(w - c)), [od.norm2(w) <= r]),
                      {"r": 1.0}, {"r": -1.0}),
    "negative_l1_ball": (od.Problem(od.Minimize(od.sum_squares(w - c)), [od.norm1(w) <= r]),
                         {"r": 1.0}, {"r": -0.5}),
    "section_above_its_box": (od.Problem(od.Minimize(od.sum_squares(w - c)), [w >= lo, w <= hi, od.sum(w) == r]),
                              {"lo": -1.0, "hi": 1.0, "r": 2.0}, {"lo": -1.0, "hi": 1.0, "r": 6.5}),
    "zero_normal_hyperplane": (od.Problem(od.Minimize(od.sum_squares(w - c)), [a @ w == r]),
                               {"a": np.ones(n), "r": 1.0}, {"a": np.zeros(n), "r": 1.0}),
    "zero_normal_halfspace": (od.Problem(od.Minimize(od.sum_squares(w - c)), [a @ w <= r]),
                              {"a": np.ones(n), "r": -1.0}, {"a": np.zeros(n), "r": -1.0}),
    "inconsistent_rows": (od.Problem(od.Minimize(od.sum_squares(w - c)), [A @ w == b]),
                          {"A": A_SPAN, "b": np.array([1.0, 1.0, 2.0])}, {"A": A_SPAN, "b": np.array([1.0, 1.5, 2.0])}),
}
C0 = np.linspace(-1.0, 2.0, n)


@pytest.fixture(scope="module", params=list(MODELS))
def compiled(request):
    problem, feasible, infeasible = MODELS[request.param]
    return problem.compile(), feasible, infeasible


def test_feasible_data_are_solved_and_empty_sets_are_infeasible(compiled):
    solve, feasible, infeasible = compiled
    assert solve.method in ("projected_gradient", "proximal_gradient")
    good = solve(c=C0, **feasible)
    assert describe(int(good.status)) == "solved"
    assert float(good.primal_violation) < 1e-8
    bad = solve(c=C0, **infeasible)
    assert describe(int(bad.status)) == "infeasible"
    assert float(bad.primal_violation) > 1e-3


def test_a_batch_gets_a_status_per_instance(compiled):
    solve, feasible, infeasible = compiled
    batch = {k: jnp.array([feasible[k], infeasible[k]]) for k in feasible}
    sols = jax.vmap(lambda p: solve(c=C0, **p))(batch)
    assert [describe(int(s)) for s in sols.status] == ["solved", "infeasible"]


@pytest.mark.parametrize("method", ["kkt", "conic"])
def test_interior_routes_check_the_model_too(method):
    problem, feasible, _ = MODELS["budget_box"]
    sol = problem.compile(method=method)(c=C0, **feasible)
    assert describe(int(sol.status)) == "solved"
    assert float(sol.primal_violation) < 1e-7


def _violation(constraint, **values):
    return float(constraint_violation(constraint, {k: jnp.asarray(v, float) for k, v in values.items()}, jnp.float64))


def test_cone_violations_are_zero_inside_and_the_relative_excess_outside():
    t, x = od.Variable(name="t"), od.Variable(2, name="x")
    soc = od.SOC(t, x)
    assert _violation(soc, t=5.0, x=[3.0, 4.0]) == 0.0
    assert _violation(soc, t=4.0, x=[3.0, 4.0]) == pytest.approx(1.0 / 6.0)
    X = od.Variable((2, 2), name="X")
    assert _violation(X >> 0, X=np.eye(2)) == 0.0
    assert _violation(X >> 0, X=np.diag([1.0, -3.0])) == pytest.approx(3.0 / 4.0)
    a, b, e = (od.Variable(name=k) for k in "abe")
    cone = od.ExpCone(a, b, e)
    assert _violation(cone, a=0.0, b=1.0, e=1.0) < 1e-12  # 1 * exp(0 / 1) <= 1, on the boundary
    assert _violation(cone, a=1.0, b=1.0, e=1.0) > 0.1
    assert _violation(w == r, w=np.ones(n), r=3.0) == pytest.approx(2.0 / 4.0)


def test_the_violation_carries_no_derivative():
    problem, feasible, _ = MODELS["negative_ball"]
    solve = problem.compile()
    grad = jax.grad(lambda radius: solve(c=C0, r=radius).primal_violation)(1.0)
    assert float(grad) == 0.0


#: One constraint per atom with a restricted domain, each written so that its optimum can sit on the domain's edge
#: (the atom's argument ``u`` at 0), with the atom's value there.
EDGE = {
    "sqrt": lambda u: od.sqrt(u) >= 0,
    "log": lambda u: od.log(u + 1) >= 0,
    "entropy": lambda u: od.entr(u) >= 0,
    "geo_mean": lambda u: od.geo_mean(od.hstack([u, u + 1])) >= 0,
    "harmonic_mean": lambda u: od.harmonic_mean(od.hstack([u, u + 1])) >= 0,
    "power": lambda u: od.power(u, 1.5) <= 1,
    "inv_pos": lambda u: od.inv_pos(u + 1) <= 1,
    "kl_div": lambda u: od.kl_div(u, u + 1) <= 1,
    "rel_entr": lambda u: od.rel_entr(u, u + 1) <= 1,
}


@pytest.mark.parametrize("atom", list(EDGE))
def test_a_point_rounding_outside_an_atoms_domain_is_that_rounding_from_feasible(atom):
    u = od.Variable(name="u")
    constraint = EDGE[atom](u)
    assert _violation(constraint, u=0.0) == 0.0
    assert 0 < _violation(constraint, u=-1e-14) <= 1e-14
    assert _violation(constraint, u=-0.5) >= 0.3  # far outside: half its size away, and said so


def test_an_optimum_on_a_domain_edge_is_solved_alone_and_in_a_batch():
    y = od.Variable(3, name="y")
    solve = od.Problem(od.Minimize(od.sum(y)), [od.sqrt(y + 1) >= 0, y <= 2]).compile()
    for out in (solve(), jax.vmap(lambda _: solve())(jnp.arange(3))):
        assert np.all(np.asarray(out.status) == 0)
        np.testing.assert_allclose(out["y"], -1.0, atol=1e-9)


def test_a_point_outside_the_domain_of_an_objectives_atom_is_not_solved():
    # The smooth interior point can step to y < 0, where 1 / y is finite: that point is no solution.
    y, p = od.Variable(name="y"), od.Parameter(name="p")
    feasible = od.Problem(od.Minimize(od.inv_pos(y) + 5 * y), [y >= -5, y <= 2]).compile(method="kkt")
    out = feasible()
    assert describe(int(out.status)) != "solved" or abs(float(out["y"]) - 5 ** -0.5) < 1e-6
    assert float(out.primal_violation) > 0.5 or float(out["y"]) > 0
    empty = od.Problem(od.Minimize(od.inv_pos(y)), [y <= p]).compile(method="kkt")  # empty domain at p < 0
    statuses = jax.vmap(lambda v: empty(p=v).status)(jnp.array([-1.0, -0.5]))
    assert not np.any(np.asarray(statuses) == 0)
