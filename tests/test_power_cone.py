"""Power cones in the modeling layer: PowCone3D, geo_mean, and power / pnorm at any real exponent.

Each is checked against cvxpy + Clarabel (power cones, exact exponents) on seeded random
instances solved by optdsl's conic route (one compiled problem, the instances in one vmap):
the atom's value, the objective, the variables and the duals where unique; gradients of
the solution against central differences in float64; the ``.opt`` round trip; the errors.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optdsl as od
from optdsl.compiler.conic import canonicalize
from optdsl.errors import OptDSLError
from optdsl.interop import to_cvxpy
from optdsl.modeling.atoms import GeoMean
from optdsl.modeling.atoms.power import geo_mean_cones, small_integer_weights
from optdsl.runtime.projections import projection_power_cone
from optdsl.runtime.status import SOLVED

CLARABEL = dict(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10, max_iter=500)
INSTANCES = 20
H = 1e-6
#: How far Clarabel's power-cone solutions are trusted (it often stops "optimal_inaccurate" near 1e-5).
CLARABEL_ACCURACY = 1e-4
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # Clarabel's "optimal_inaccurate" on power cones


def cone_kinds(problem: od.Problem) -> tuple[int, int]:
    """(SOC count, power cone count) of the problem's conic form."""
    cones = canonicalize(problem).cones
    return len(cones.soc), len(cones.power)


def solve_batch(solve, params: dict[str, np.ndarray]):
    """All instances (the leading axis of every value) in one vmap of the compiled problem."""
    return jax.jit(jax.vmap(lambda p: solve(p)))({k: jnp.asarray(v) for k, v in params.items()})


class Solved(NamedTuple):
    """A batch solved and differentiated in one compiled program, which all the tests of a model share."""

    sol: od.Solution
    value: Any  # of(solution) per instance
    jacobian: Any  # its Jacobian with respect to each parameter (a dict by name per output of ``of``), per instance


def solve_and_differentiate(solve, of, params: dict[str, np.ndarray]) -> Solved:
    """For every instance (the leading axis of every value): the solution, ``of(solution)`` and its Jacobian."""
    def one(p):
        def with_solution(p):
            sol = solve(p)
            value = of(sol)
            return value, (value, sol)

        jacobian, (value, sol) = jax.jacrev(with_solution, has_aux=True)(p)
        return sol, value, jacobian

    sol, value, jacobian = jax.jit(jax.vmap(one))({k: jnp.asarray(v) for k, v in params.items()})
    return Solved(sol, *jax.tree_util.tree_map(np.asarray, (value, jacobian)))


class CentralDifferences(NamedTuple):
    """Two random points ``p`` and directions ``d``; the batch ``p, p + H d, p - H d`` is stacked after a model's
    instances, and the gradient found at ``p`` is checked against the central difference of the values."""

    base: dict[str, np.ndarray]
    direction: dict[str, np.ndarray]

    @classmethod
    def draw(cls, shapes: dict[str, tuple[int, ...]], seed: int) -> CentralDifferences:
        rng = np.random.default_rng(seed)
        return cls(*({k: rng.normal(size=(2, *shape)) for k, shape in shapes.items()} for _ in range(2)))

    def points(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate([p, p + H * self.direction[k], p - H * self.direction[k]])
                for k, p in self.base.items()}

    def check(self, value: np.ndarray, gradient: dict[str, np.ndarray]) -> None:
        """``value`` and ``gradient``: those of the batch :meth:`points` (in its order)."""
        for i in range(2):
            fd = (value[2 + i] - value[4 + i]) / (2 * H)
            analytic = sum(np.vdot(gradient[k][i], d[i]) for k, d in self.direction.items())
            np.testing.assert_allclose(analytic, fd, rtol=1e-5, atol=1e-7)


def stacked(*batches: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}


def reference(problem: cp.Problem, values: dict[str, np.ndarray]) -> cp.Problem:
    for name, value in values.items():
        problem.param_dict[name].value = value
    problem.solve(**CLARABEL)
    assert problem.status in ("optimal", "optimal_inaccurate"), problem.status
    return problem


# ---- the shared graph form ---------------------------------------------------------------------------------------

def test_small_rational_weights_take_the_soc_tower_and_others_power_cones():
    assert small_integer_weights([1, 2, 3]) == [1, 2, 3]
    assert small_integer_weights([0.25, 0.75]) == [1, 3]
    assert small_integer_weights([1, np.pi]) is None
    assert small_integer_weights([1] * 65) is None  # a common denominator above MAX_TERMS
    x = od.Variable(4, name="x")
    assert cone_kinds(od.Problem(od.Maximize(od.geo_mean(x, [1, 2, 3, 2])), [od.sum(x) <= 1]))[1] == 0
    assert cone_kinds(od.Problem(od.Maximize(od.geo_mean(x, [1, 2, np.e, 2])), [od.sum(x) <= 1])) == (0, 3)
    assert cone_kinds(od.Problem(od.Minimize(od.sum(od.power(x, 2.5))), [od.sum(x) >= 1]))[1] == 0
    assert cone_kinds(od.Problem(od.Minimize(od.sum(od.power(x, np.pi))), [od.sum(x) >= 1]))[1] == 4
    assert cone_kinds(od.Problem(od.Minimize(od.pnorm(x, np.sqrt(5))), [od.sum(x) >= 1]))[1] == 4


def test_chain_of_power_cones_is_the_weighted_geometric_mean():
    """Maximising top subject to |top| <= prod leaves^w (a chain of three power cones) reaches the product."""
    weights = np.array([0.3, np.sqrt(2), 1 / np.e, 0.9])
    leaves = od.Parameter(4, name="leaves", nonneg=True)
    top = od.Variable(name="top")
    problem = od.Problem(od.Maximize(top), geo_mean_cones(top, [leaves[i] for i in range(4)], weights))
    assert cone_kinds(problem) == (0, 3)
    values = np.random.default_rng(1).uniform(0.5, 2.0, size=(INSTANCES, 4))
    sol = solve_batch(problem.compile(method="conic"), {"leaves": values})
    assert (np.asarray(sol.status) == SOLVED).all()
    np.testing.assert_allclose(sol["top"], np.prod(values ** (weights / weights.sum()), axis=1), rtol=1e-7)


# ---- atom values ---------------------------------------------------------------------------------------------------

def test_atom_values_match_cvxpy():
    rng = np.random.default_rng(0)
    for _ in range(INSTANCES):
        v = rng.uniform(0.1, 3.0, size=5)
        w = rng.uniform(0, 2, size=5)
        p = float(rng.uniform(1.05, 4.0))
        q = float(rng.uniform(0.05, 0.95))
        r = float(rng.uniform(-3.0, -0.1))
        cases = [
            (od.geo_mean(v, w), cp.geo_mean(v, list(w), approx=False)),
            (od.geo_mean(v), cp.geo_mean(v, approx=False)),
            (od.power(v, p), cp.power(v, p, approx=False)),
            (od.power(v, q), cp.power(v, q, approx=False)),
            (od.power(v, r), cp.power(v, r, approx=False)),
            (od.pnorm(v - 1.5, p), cp.pnorm(v - 1.5, p, approx=False)),
        ]
        for ours, theirs in cases:
            np.testing.assert_allclose(ours.evaluate({}), theirs.value, rtol=1e-12, err_msg=str(ours))


def test_geo_mean_rules_and_matrix_weights():
    x = od.Variable((2, 2), name="x")
    g = od.geo_mean(x, [[1, 2], [0, 3]])
    assert (g.curvature.value, g.sign.value, g.shape) == ("concave", "nonneg", ())
    assert g.restricted_domain
    assert str(g) == "geo_mean(x, [1, 2, 0, 3])"
    value = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(g.evaluate({x: value}), 2 ** (2 / 6) * 4 ** (3 / 6))
    assert od.geo_mean(-od.geo_mean(x)).curvature.value == "unknown"  # increasing: a convex argument breaks it


# ---- solutions against cvxpy + Clarabel ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def projection():
    """The projection of (a, b, c) onto three power cones of distinct exponents (and a shared one)."""
    alpha = np.array([0.3, 1 / np.pi, 0.75])
    x, y, z = (od.Variable(3, name=n) for n in "xyz")
    a, b, c = (od.Parameter(3, name=n) for n in "abc")
    cone = od.PowCone3D(x, y, z, alpha).named("cone")
    problem = od.Problem(od.Minimize(od.sum_squares(x - a) + od.sum_squares(y - b) + od.sum_squares(z - c)), [cone])
    X, Y, Z = (cp.Variable(3, name=n) for n in "xyz")
    A, B, C = (cp.Parameter(3, name=n) for n in "abc")
    cvx = cp.Problem(cp.Minimize(cp.sum_squares(X - A) + cp.sum_squares(Y - B) + cp.sum_squares(Z - C)),
                     [cp.constraints.PowCone3D(X, Y, Z, alpha)])
    rng = np.random.default_rng(2)
    params = {k: rng.normal(size=(INSTANCES, 3)) * 2 for k in "abc"}
    differences = CentralDifferences.draw({k: (3,) for k in "abc"}, seed=3)

    def loss(s):
        return jnp.sum(jnp.sin(s["x"]) + s["y"] ** 2 + 0.5 * s["z"])

    solved = solve_and_differentiate(problem.compile(method="conic"), loss, stacked(params, differences.points()))
    return params, solved, differences, cvx


def test_pow_cone_projection_matches_the_projection_and_clarabel(projection):
    """The model is the Euclidean projection onto the cones: its solution is projection_power_cone of (a, b, c)
    and its dual 2 (P(v) - v); Clarabel (reaching about 1e-5 on power cones) agrees to its own accuracy."""
    params, solved, _, cvx = projection
    sol = jax.tree_util.tree_map(lambda v: v[:INSTANCES], solved.sol)
    assert (np.asarray(sol.status) == SOLVED).all()
    alpha = jnp.asarray([0.3, 1 / np.pi, 0.75])
    projected = np.stack(jax.vmap(projection_power_cone, in_axes=(0, 0, 0, None))(
        *(jnp.asarray(params[k]) for k in "abc"), alpha), axis=1)
    np.testing.assert_allclose(np.stack([sol[n] for n in "xyz"], axis=1), projected, atol=1e-7)
    point = np.stack([params[k] for k in "abc"], axis=1)
    np.testing.assert_allclose(sol.dual("cone"), 2 * (projected - point), atol=1e-6)
    for i in range(INSTANCES):
        ref = reference(cvx, {k: v[i] for k, v in params.items()})
        np.testing.assert_allclose(sol.objective[i], ref.value, rtol=1e-6, atol=1e-7)
        for name in "xyz":
            np.testing.assert_allclose(sol[name][i], cvx.var_dict[name].value, atol=CLARABEL_ACCURACY)
        np.testing.assert_allclose(sol.dual("cone")[i], np.stack(cvx.constraints[0].dual_value),
                                   atol=CLARABEL_ACCURACY)


def test_pow_cone_projection_gradient_matches_central_differences(projection):
    _, solved, differences, _ = projection
    differences.check(solved.value[INSTANCES:], {k: v[INSTANCES:] for k, v in solved.jacobian.items()})


@pytest.fixture(scope="module", params=["irrational", pytest.param("rational", marks=pytest.mark.slow)])
def geo_mean_budget(request):
    """maximize geo_mean(x, w) subject to a @ x <= 1: x_i = w_i / a_i (w normalised), the budget's dual = value."""
    w = np.array([1.0, np.sqrt(2), np.e, 0.5]) if request.param == "irrational" else np.array([1.0, 2.0, 3.0, 2.0])
    x = od.Variable(4, name="x")
    a = od.Parameter(4, name="a", nonneg=True)
    problem = od.Problem(od.Maximize(od.geo_mean(x, w)), [(a @ x <= 1).named("budget")])
    X, A = cp.Variable(4, name="x"), cp.Parameter(4, name="a", nonneg=True)
    cvx = cp.Problem(cp.Maximize(cp.geo_mean(X, list(w), approx=False)), [A @ X <= 1])
    rng = np.random.default_rng(4)
    a = np.concatenate([rng.uniform(0.2, 3.0, size=(INSTANCES, 4)), [A0]])  # the last: the gradient's point
    solved = solve_and_differentiate(problem.compile(method="conic"), lambda s: (s["x"], s.objective), {"a": a})
    return w, a[:INSTANCES], solved, cvx


#: Where the derivatives of the geo_mean model are checked.
A0 = np.array([0.5, 1.0, 2.0, 1.5])


def test_geo_mean_solution_matches_closed_form_and_clarabel(geo_mean_budget):
    w, a, solved, cvx = geo_mean_budget
    weights = w / w.sum()
    sol = jax.tree_util.tree_map(lambda v: v[:INSTANCES], solved.sol)
    assert (np.asarray(sol.status) == SOLVED).all()
    expected_x = weights / a
    np.testing.assert_allclose(sol["x"], expected_x, rtol=1e-6)
    np.testing.assert_allclose(sol.objective, np.prod(expected_x ** weights, axis=1), rtol=1e-7)
    np.testing.assert_allclose(sol.dual("budget"), sol.objective, rtol=1e-6)  # the value is linear in the budget
    for i in range(INSTANCES):
        ref = reference(cvx, {"a": a[i]})
        np.testing.assert_allclose(sol.objective[i], ref.value, rtol=1e-6)
        np.testing.assert_allclose(sol["x"][i], cvx.var_dict["x"].value, atol=CLARABEL_ACCURACY)
        np.testing.assert_allclose(sol.dual("budget")[i], cvx.constraints[0].dual_value, atol=CLARABEL_ACCURACY)


def test_geo_mean_gradient_matches_the_closed_form(geo_mean_budget):
    w, _, solved, _ = geo_mean_budget
    weights = w / w.sum()
    x_jacobian, value_gradient = (np.asarray(part["a"][-1]) for part in solved.jacobian)
    np.testing.assert_allclose(x_jacobian, np.diag(-weights / A0 ** 2), atol=1e-7)
    np.testing.assert_allclose(value_gradient, -weights / A0 * np.prod((weights / A0) ** weights), rtol=1e-6)


POWERS = [np.pi, 1 / np.sqrt(3), -np.sqrt(2)]


#: One exponent (above one) in the default run; the concave and the negative ones under ``-m slow``.
@pytest.fixture(scope="module", params=[POWERS[0], *(pytest.param(p, marks=pytest.mark.slow) for p in POWERS[1:])],
                ids=["pi", "1/sqrt3", "-sqrt2"])
def power_model(request):
    """The separable model whose stationary point is closed form: x = (q / |p|)^(1 / (p - 1)) entrywise."""
    p = request.param
    x = od.Variable(3, name="x")
    q = od.Parameter(3, name="q", nonneg=True)
    if p < 0:
        problem = od.Problem(od.Minimize(od.sum(od.power(x, p)) + q @ x))
    elif p > 1:
        problem = od.Problem(od.Minimize(od.sum(od.power(x, p)) - q @ x))
    else:
        problem = od.Problem(od.Maximize(od.sum(od.power(x, p)) - q @ x))
    X, Q = cp.Variable(3, name="x"), cp.Parameter(3, name="q", nonneg=True)
    power = cp.sum(cp.power(X, p, approx=False))
    cvx = cp.Problem(cp.Minimize(power + Q @ X) if p < 0 else
                     cp.Minimize(power - Q @ X) if p > 1 else cp.Maximize(power - Q @ X))
    rng = np.random.default_rng(5)
    q = np.concatenate([rng.uniform(0.3, 3.0, size=(INSTANCES, 3)), [Q0]])  # the last: the gradient's point
    solved = solve_and_differentiate(problem.compile(method="conic"), lambda s: s["x"], {"q": q})
    return p, q[:INSTANCES], solved, cvx


#: Where the derivatives of the power models are checked.
Q0 = np.array([0.5, 1.0, 2.0])


def test_power_at_irrational_exponents_matches_closed_form_and_clarabel(power_model):
    p, q, solved, cvx = power_model
    sol = jax.tree_util.tree_map(lambda v: v[:INSTANCES], solved.sol)
    assert (np.asarray(sol.status) == SOLVED).all()
    np.testing.assert_allclose(sol["x"], (q / abs(p)) ** (1 / (p - 1)), rtol=1e-6)
    for i in range(INSTANCES):
        ref = reference(cvx, {"q": q[i]})
        np.testing.assert_allclose(sol.objective[i], ref.value, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(sol["x"][i], cvx.var_dict["x"].value, atol=CLARABEL_ACCURACY)


def test_power_gradient_matches_the_closed_form(power_model):
    p, _, solved, _ = power_model
    expected = (Q0 / abs(p)) ** (1 / (p - 1)) / ((p - 1) * Q0)
    np.testing.assert_allclose(solved.jacobian["q"][-1], np.diag(expected), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("p", [1.5, np.pi])  # the SOC tower and power cones
def test_power_of_a_convex_argument_is_bounded_through_its_epigraph_not_forced_to_zero(p):
    # minimize sum |y - c|^p + w'y: y = c - sign(w) (|w| / p)^(1 / (p - 1)) entry by entry. The domain y - c >= 0
    # of a power does not apply to |y - c|, which stands in through an upper bound of its own.
    y, c, w = od.Variable(3, name="y"), od.Parameter(3, name="c"), od.Parameter(3, name="w")
    problem = od.Problem(od.Minimize(od.sum(od.power(od.abs(y - c), p)) + w @ y))
    rng = np.random.default_rng(8)
    c_values, w_values = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    solved = solve_and_differentiate(problem.compile(method="conic"), lambda s: s["y"], {"c": c_values, "w": w_values})
    assert (np.asarray(solved.sol.status) == SOLVED).all()
    step = (np.abs(w_values) / p) ** (1 / (p - 1))
    np.testing.assert_allclose(solved.sol["y"], c_values - np.sign(w_values) * step, rtol=1e-7, atol=1e-9)
    slope = -step / ((p - 1) * np.abs(w_values))  # d y_i / d w_i
    np.testing.assert_allclose(solved.jacobian["w"], jax.vmap(jnp.diag)(slope), rtol=1e-6, atol=1e-9)


@pytest.fixture(scope="module")
def pnorm_fit():
    """minimize pnorm(A x - b, p) at an irrational p: a unique fit (A of full column rank)."""
    p = np.sqrt(7)
    x = od.Variable(3, name="x")
    A, b = od.Parameter((6, 3), name="A"), od.Parameter(6, name="b")
    problem = od.Problem(od.Minimize(od.pnorm(A @ x - b, p)))
    X, CA, CB = cp.Variable(3, name="x"), cp.Parameter((6, 3), name="A"), cp.Parameter(6, name="b")
    cvx = cp.Problem(cp.Minimize(cp.pnorm(CA @ X - CB, p, approx=False)))
    rng = np.random.default_rng(6)
    params = {"A": rng.normal(size=(INSTANCES, 6, 3)), "b": rng.normal(size=(INSTANCES, 6))}
    differences = CentralDifferences.draw({"A": (6, 3), "b": (6,)}, seed=7)
    solved = solve_and_differentiate(problem.compile(method="conic"), lambda s: jnp.sum(s["x"] ** 2) + s.objective,
                                     stacked(params, differences.points()))
    return params, solved, differences, cvx


def test_pnorm_at_an_irrational_p_matches_clarabel(pnorm_fit):
    params, solved, _, cvx = pnorm_fit
    sol = jax.tree_util.tree_map(lambda v: v[:INSTANCES], solved.sol)
    assert (np.asarray(sol.status) == SOLVED).all()
    p = np.sqrt(7)
    r = np.einsum("kij,kj->ki", params["A"], np.asarray(sol["x"])) - params["b"]
    np.testing.assert_allclose(sol.objective, np.sum(np.abs(r) ** p, axis=1) ** (1 / p), rtol=1e-9)
    gradient = np.einsum("kij,ki->kj", params["A"], np.sign(r) * np.abs(r) ** (p - 1))  # stationarity: A' g(r) = 0
    assert np.abs(gradient).max() <= 1e-6 * np.abs(r).max() ** (p - 1)
    for i in range(INSTANCES):
        ref = reference(cvx, {k: v[i] for k, v in params.items()})
        np.testing.assert_allclose(sol.objective[i], ref.value, rtol=1e-6)
        np.testing.assert_allclose(sol["x"][i], cvx.var_dict["x"].value, atol=CLARABEL_ACCURACY)


def test_pnorm_gradient_matches_central_differences(pnorm_fit):
    _, solved, differences, _ = pnorm_fit
    differences.check(solved.value[INSTANCES:], {k: v[INSTANCES:] for k, v in solved.jacobian.items()})


# ---- .opt, cvxpy round trips and errors ----------------------------------------------------------------------------

def round_trip_problems() -> list[od.Problem]:
    x, y, z = (od.Variable(3, name=n) for n in "xyz")
    M = od.Variable((2, 2), name="M")
    return [
        od.Problem(od.Minimize(od.sum(z)), [od.PowCone3D(x, y, z, 0.25), od.sum(x + y) <= 1]),
        od.Problem(od.Minimize(od.sum(z)), [od.PowCone3D(x, np.ones(3), z, [0.2, 1 / np.pi, 0.7]).named("k")]),
        od.Problem(od.Minimize(od.sum(M)), [od.PowCone3D(M, M + 1, -M, [[0.1, 0.2], [0.3, 0.4]])]),
        od.Problem(od.Maximize(od.geo_mean(x) + od.geo_mean(M, [[1, 0], [np.e, 2]])), [od.sum(x) <= 1]),
        od.Problem(od.Minimize(od.sum(od.power(x, np.pi)) + od.pnorm(y, np.sqrt(3)) + od.sum(x ** -np.e))),
    ]


@pytest.mark.parametrize("problem", round_trip_problems(), ids=range(5))
def test_opt_round_trip(problem):
    text = problem.to_opt()
    assert od.parse(text) == problem
    assert od.parse(text).to_opt() == text


@pytest.mark.parametrize("problem", round_trip_problems(), ids=range(5))
def test_cvxpy_round_trip(problem):
    """to_cvxpy and back: the same objective and cone arguments at random points, the same exponents."""
    back, _ = od.from_cvxpy(to_cvxpy(problem))
    rng = np.random.default_rng(8)
    point = {v.name: rng.uniform(0.1, 2.0, size=v.shape) for v in problem.variables()}
    np.testing.assert_allclose(back.objective.expr.evaluate(point), problem.objective.expr.evaluate(point))
    for ours, theirs in zip(problem.constraints, back.constraints):
        assert type(ours) is type(theirs)
        for a, b in zip(ours.args, theirs.args):
            np.testing.assert_allclose(b.evaluate(point), a.evaluate(point))
        if isinstance(ours, od.PowCone3D):
            np.testing.assert_array_equal(theirs.alpha, ours.alpha)


def test_from_cvxpy_geo_mean_pairs_weights_with_entries_column_major():
    X = cp.Variable((2, 2), name="X")
    w = [1.0, 0.0, 2.0, np.e]  # cvxpy's order: X[0, 0], X[1, 0], X[0, 1], X[1, 1]
    problem, _ = od.from_cvxpy(cp.Problem(cp.Maximize(cp.geo_mean(X, w)), [cp.sum(X) <= 1]))
    g = problem.objective.expr
    assert isinstance(g, GeoMean)
    np.testing.assert_array_equal(np.reshape(g.p, (2, 2)), [[1.0, 2.0], [0.0, np.e]])
    value = np.array([[1.0, 2.0], [3.0, 4.0]])
    X.value = value
    np.testing.assert_allclose(g.evaluate({problem.variables()[0]: value}), cp.geo_mean(X, w, approx=False).value)


@pytest.mark.parametrize("build, message", [
    (lambda x: od.PowCone3D(x, x, x, 1.0),
     r"PowCone3D\(x, x, x\): alpha must lie in the open interval \(0, 1\), got 1 at index \(0,\)"),
    (lambda x: od.PowCone3D(x, x, x, [0.5, 0.5, -0.1]), r"got -0.1 at index \(2,\)"),
    (lambda x: od.PowCone3D(x, x, x[:2], 0.5), r"PowCone3D: shapes \(3,\), \(3,\) and \(2,\) of x, y, z must be equal"),
    (lambda x: od.PowCone3D(x, x, x, [0.5, 0.5]), r"alpha of shape \(2,\) must be a number, of the shape \(3,\)"),
    (lambda x: od.PowCone3D(x, x, x, od.Parameter(name="a")), r"alpha must be a constant \(it sets the cone\)"),
    (lambda x: od.PowCone3D(x, x, x, "half"), r"alpha must be a real number or an array"),
    (lambda x: od.geo_mean(x, [1, -1, 1]), r"geo_mean\(x\): the weights p must be >= 0 and not all zero"),
    (lambda x: od.geo_mean(x, [0, 0, 0]), r"not all zero"),
    (lambda x: od.geo_mean(x, [1, 2]), r"geo_mean\(x\): weights p of shape \(2,\) must have the shape \(3,\)"),
    (lambda x: od.geo_mean(x, x), r"geo_mean\(x\): the weights p must be constants, got x"),
])
def test_typed_errors_name_the_place(build, message):
    with pytest.raises(OptDSLError, match=message):
        build(od.Variable(3, name="x"))


def test_pow_cone_arguments_must_be_affine():
    x = od.Variable(3, name="x")
    assert "every argument of PowCone3D must be affine" in od.PowCone3D(x, od.exp(x), x, 0.5).dcp_violations()[0]


def test_violation_of_a_pow_cone_is_its_distance_relative_to_the_point():
    """certify's measure: 0 inside the cone, else the distance to it (found by Clarabel) over 1 + |point|."""
    from optdsl.compiler.certify import constraint_violation

    x, y, z = (od.Variable(2, name=n) for n in "xyz")
    cone = od.PowCone3D(x, y, z, [0.5, 0.3])
    inside = {"x": np.array([4.0, 1.0]), "y": np.array([1.0, 2.0]), "z": np.array([2.0, -1.0])}
    assert float(constraint_violation(cone, inside, jnp.float64)) == 0.0
    point = np.array([[1.0, 0.5], [1.0, -1.0], [2.0, 3.0]])
    p = cp.Variable((3, 2))
    projection = cp.Problem(cp.Minimize(cp.sum_squares(p - point)), [cp.constraints.PowCone3D(*p, [0.5, 0.3])])
    projection.solve(**CLARABEL)
    expected = np.max(np.linalg.norm(p.value - point, axis=0) / (1 + np.linalg.norm(point, axis=0)))
    found = constraint_violation(cone, dict(zip("xyz", point)), jnp.float64)
    np.testing.assert_allclose(found, expected, rtol=1e-5)
