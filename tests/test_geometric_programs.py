"""Geometric programs (``compile(gp=True)``): closed forms, cvxpy + Clarabel ``solve(gp=True)`` on seeded random
GPs, derivatives against closed forms and central differences (float64), and the typed errors.

Every problem is compiled once (module fixtures). The log-space form of these GPs is smooth, so they are compiled
with ``method="kkt"``, whose interior point compiles in a few seconds; the default route (the conic one) is what
tests/test_cvxpylayers_jax.py runs.
"""

from __future__ import annotations

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optdsl as od
from optdsl.modeling.dgp import LogLog, LogSpace
from optdsl.runtime.status import INVALID_PARAMETER

KKT = {"method": "kkt"}
#: Clarabel's tolerances for the reference: at its defaults the solution is only ~1e-5 accurate on these GPs.
TIGHT = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12}


# ------------------------------------------------------------------------------------------------
# the DGP rules: cvxpy's log-log curvature, and the log form of every atom
# ------------------------------------------------------------------------------------------------

_x, _y = od.Variable(3, name="x", pos=True), od.Variable(3, name="y", pos=True)
_t, _S = od.Variable(name="t", pos=True), od.Variable((2, 2), name="S", pos=True)
_c, _a = od.Parameter(name="c"), od.Parameter(3, name="a", pos=True)
_P = np.array([[1.0, 0.5], [0.5, 2.0]])
LOG_LOG = [
    _x * _y, _x / _y, _x**1.5, _x**-0.5, _x**_c, _a * _x**_c, od.sqrt(_x), od.square(_x), od.inv_pos(_x),
    od.prod(_x), od.prod(_S, axis=0), od.geo_mean(_x), od.geo_mean(_x, [1, 2, 3]), _x[1:], od.reshape(_S, (4,)),
    _S.T, od.hstack([_x, _y]), od.vstack([_x, _y]), od.concatenate([_x, _y]), od.diag(_S),
    _x + _y, _x + 1, _t + _x, od.sum(_x), od.sum(_S, axis=0), _S @ _x[:2], _x @ _y, _a @ _x, _S @ _S, od.trace(_S),
    od.norm1(_x), od.norm2(_x), od.pnorm(_x, 3), od.sum_squares(_S), od.quad_form(_x[:2], _P),
    od.quad_over_lin(_x, _t), od.max(_x), od.max(_S, axis=1), od.maximum(_x, _y), od.norm_inf(_x), od.exp(_x),
    od.min(_x), od.minimum(_x, _y), od.harmonic_mean(_x), od.log(3 * _x * _y), od.log(1 + _x), -_x, _x - _y,
    od.abs(_x),
]
_CVXPY_WORDS = {"LOG-LOG AFFINE": "affine", "LOG-LOG CONVEX": "convex", "LOG-LOG CONCAVE": "concave",
                "LOG-LOG CONSTANT": "constant", "UNKNOWN": "unknown"}


def test_log_log_curvature_is_cvxpys_and_each_log_form_is_the_log_of_its_atom():
    loglog, space = LogLog(), LogSpace({"x", "y", "t", "S", "c", "a"})
    forms = []
    for expr in LOG_LOG:
        reference = od.Problem(od.Minimize(od.Constant(0.0)), [expr == 1]).to_cvxpy().constraints[0].args[0]
        curvature = loglog(expr).value
        assert curvature == _CVXPY_WORDS[reference.log_log_curvature], str(expr)
        if curvature != "unknown":
            forms.append((expr, space.log(expr)))
            assert forms[-1][1].curvature.value == curvature, str(expr)  # the log form is DCP as the rule says
    rng = np.random.default_rng(0)
    values = {"x": rng.uniform(0.5, 2, 3), "y": rng.uniform(0.5, 2, 3), "t": np.asarray(1.3),
              "S": rng.uniform(0.5, 2, (2, 2)), "c": np.asarray(0.7), "a": rng.uniform(0.5, 2, 3)}
    log_values = {**{name: np.log(values[name]) for name in "xytS"},
                  **{log_name: np.log(values[name]) for name, log_name in space.logged.items()},
                  **{name: values[name] for name in space.raw_names}}
    pairs = jax.jit(lambda values, log_values: [(expr.evaluate(values), jnp.exp(form.evaluate(log_values)))
                                                for expr, form in forms])(values, log_values)
    for (expr, _), (value, from_log) in zip(forms, pairs):
        np.testing.assert_allclose(from_log, value, rtol=1e-12, err_msg=str(expr))


# ------------------------------------------------------------------------------------------------
# closed forms
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def box():
    """The largest box of wall area ``2 h (w + d) <= wall`` and floor area ``w d <= floor``.

    Closed form: ``w = d = sqrt(floor)``, ``h = wall / (4 sqrt(floor))``, volume ``wall sqrt(floor) / 4``; the
    log-space duals are ``d log V / d log wall = 1`` and ``d log V / d log floor = 1 / 2``.
    """
    h, w, d = (od.Variable(name=name, pos=True) for name in "hwd")
    wall, floor = od.Parameter(name="wall", pos=True), od.Parameter(name="floor", pos=True)
    walls, base = (2 * (h * w + h * d) <= wall).named("walls"), (w * d <= floor).named("base")
    problem = od.Problem(od.Maximize(h * w * d), [walls, base])
    assert problem.is_dgp() and not problem.is_dcp()
    return problem.compile(gp=True, **KKT)


@pytest.mark.parametrize("wall, floor", [(100.0, 10.0), (3.0, 0.5)])
def test_box_closed_form(box, wall, floor):
    sol = box(wall=wall, floor=floor)
    assert sol.status_name() == "solved"
    side = np.sqrt(floor)
    np.testing.assert_allclose([sol["h"], sol["w"], sol["d"]], [wall / (4 * side), side, side], rtol=1e-6)
    np.testing.assert_allclose(sol.objective, wall * side / 4, rtol=1e-7)
    np.testing.assert_allclose([sol.dual("walls"), sol.dual("base")], [1.0, 0.5], rtol=1e-6)


def test_box_derivatives_closed_form(box):
    wall, floor = 100.0, 10.0

    def volume_and_height(a, b):  # one reverse pass checks both derivatives of both
        solution = box(wall=a, floor=b)
        return solution.objective + 3 * solution["h"]

    found = jax.grad(volume_and_height, argnums=(0, 1))(wall, floor)
    side = np.sqrt(floor)
    expected = [side / 4 + 3 / (4 * side), wall / (8 * side) - 3 * wall / (8 * floor * side)]
    np.testing.assert_allclose(found, expected, rtol=1e-6)


BOX_OPT = """
param wall pos
param floor pos
var h pos
var w pos
var d pos
maximize h * w * d
subject to
  walls: 2 * (h * w + h * d) <= wall
  base: w * d <= floor
"""


def test_box_written_in_opt_is_the_python_model_and_solves_like_it(box):
    parsed = od.parse(BOX_OPT)
    assert parsed == box.problem and all(leaf.pos for leaf in [*parsed.variables(), *parsed.parameters()])
    assert "var h pos" in parsed.to_opt() and od.parse(parsed.to_opt()) == parsed
    wall, floor = 3.0, 0.5
    value = parsed.solve(gp=True, options=KKT, wall=wall, floor=floor)
    expected = box(wall=wall, floor=floor)
    assert parsed.status == "optimal"
    np.testing.assert_allclose(value, expected.objective, rtol=1e-9)
    np.testing.assert_allclose([leaf.value for leaf in parsed.variables()],
                               [expected[leaf.name] for leaf in parsed.variables()], rtol=1e-9)
    np.testing.assert_allclose([c.dual_value for c in parsed.constraints], [1.0, 0.5], rtol=1e-6)


@pytest.fixture(scope="module")
def monomial_bound():
    """``minimize x + y`` subject to ``x y^c >= a``, with a parameter exponent ``c`` of either sign.

    Closed form: ``y = (c a)^(1 / (1 + c))``, ``x = a y^(-c)`` (for ``c > 0``; ``c < 0`` makes it unbounded).
    """
    x, y = od.Variable(name="x", pos=True), od.Variable(name="y", pos=True)
    a, c = od.Parameter(name="a", pos=True), od.Parameter(name="c")
    problem = od.Problem(od.Minimize(x + y), [x * y**c >= a])
    return problem.compile(gp=True, **KKT)


def _monomial_closed_form(a, c):
    y = (c * a) ** (1 / (1 + c))
    return a * y**-c, y


def test_monomial_bound_closed_form_and_derivatives(monomial_bound):
    for a, c in [(2.0, 0.5), (0.3, 2.0)]:
        sol = monomial_bound(a=a, c=c)
        assert sol.status_name() == "solved"
        np.testing.assert_allclose([sol["x"], sol["y"]], _monomial_closed_form(a, c), rtol=1e-6)

    def weighted(a, c):
        solution = monomial_bound(a=a, c=c)
        return solution["x"] + 3 * solution["y"]

    found = jax.grad(weighted, argnums=(0, 1))(2.0, 0.5)
    expected = jax.grad(lambda a, c: jnp.dot(jnp.array([1.0, 3.0]), jnp.stack(_monomial_closed_form(a, c))),
                        argnums=(0, 1))(2.0, 0.5)
    np.testing.assert_allclose(found, expected, rtol=1e-6)


def test_from_cvxpy_gp_solves_as_cvxpy_does():
    """A monomial equality: ``minimize x + y + z`` subject to ``x y z == a``, so ``x = y = z = a^(1/3)``."""
    x, y, z = (cp.Variable(pos=True, name=name) for name in "xyz")
    a = cp.Parameter(pos=True, name="a", value=8.0)
    product = x * y * z == a
    reference = cp.Problem(cp.Minimize(x + y + z), [product])
    reference.solve(gp=True, solver=cp.CLARABEL)
    problem, values = od.from_cvxpy(reference)
    assert values == {"a": 8.0} and problem.is_dgp()
    value = problem.solve(gp=True, options=KKT)
    np.testing.assert_allclose(value, 6.0, rtol=1e-7)
    np.testing.assert_allclose([v.value for v in problem.variables()], [2.0, 2.0, 2.0], rtol=1e-6)
    np.testing.assert_allclose(problem.constraints[0].dual_value, product.dual_value, rtol=1e-5)
    np.testing.assert_allclose(problem.constraints[0].dual_value, -1 / 3, rtol=1e-6)


# ------------------------------------------------------------------------------------------------
# random GPs against cvxpy + Clarabel, and central differences
# ------------------------------------------------------------------------------------------------


def _random_gp() -> od.Problem:
    """``minimize sum(c / x) + two monomials`` subject to a posynomial ``<= 1`` and a monomial lower bound.

    The monomials' exponents are parameters too (``e0`` ... ``e5``), so every instance has its own structure.
    """
    x = od.Variable(3, name="x", pos=True)
    c, d = od.Parameter(3, name="c", pos=True), od.Parameter(3, name="d", pos=True)
    low = od.Parameter(name="low", pos=True)
    exponents = [od.Parameter(name=f"e{k}") for k in range(6)]
    first, second = (1.5 * x[0] ** e0 * x[1] ** e1 * x[2] ** e2 for e0, e1, e2 in (exponents[:3], exponents[3:]))
    objective = od.sum(c / x) + first + 0.7 * second
    posynomial = od.sum(d * x) + 0.3 * x[0] ** 0.5 * x[1] * x[2] ** 0.2
    constraints = [(posynomial <= 1).named("budget"), (x[0] * x[1] ** 0.5 >= low).named("floor")]
    return od.Problem(od.Minimize(objective), constraints)


def _random_values(count: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"c": rng.uniform(0.1, 1, (count, 3)), "d": rng.uniform(0.2, 1, (count, 3)),
            "low": rng.uniform(0.2, 0.45, count), **{f"e{k}": rng.uniform(-0.6, 0.6, count) for k in range(6)}}


@pytest.fixture(scope="module")
def random_gp():
    problem = _random_gp()
    return problem, problem.compile(gp=True, **KKT)


def test_random_gps_match_cvxpy(random_gp):
    problem, solve = random_gp
    count = 5
    batch = _random_values(count)
    solutions = jax.vmap(lambda values: solve(values))(batch)
    for i in range(count):
        values = {name: value[i] for name, value in batch.items()}
        reference = problem.to_cvxpy(values)
        reference.solve(gp=True, solver=cp.CLARABEL, **TIGHT)
        assert reference.status == "optimal" and solutions.status_name()[i] == "solved"
        np.testing.assert_allclose(solutions["x"][i], reference.var_dict["x"].value, rtol=1e-6)
        np.testing.assert_allclose(solutions.objective[i], reference.value, rtol=1e-8)
        for position, name in enumerate(["budget", "floor"]):
            np.testing.assert_allclose(solutions.duals[name][i], reference.constraints[position].dual_value,
                                       rtol=1e-6, atol=1e-8)


def test_random_gp_derivatives_central_differences(random_gp):
    _, solve = random_gp
    values = {name: jnp.asarray(value[0]) for name, value in _random_values(1).items()}
    weights = jnp.asarray([0.3, -1.2, 0.8])

    def loss(values):
        solution = solve(values)
        return weights @ solution["x"] + solution.objective + solution.dual("budget")

    gradient = jax.grad(loss)(values)
    eps = 1e-6
    for name, value in values.items():
        for index in np.ndindex(value.shape):
            step = jnp.zeros_like(value).at[index].set(eps)
            central = (loss({**values, name: value + step}) - loss({**values, name: value - step})) / (2 * eps)
            np.testing.assert_allclose(gradient[name][index], central, rtol=1e-5, atol=1e-7, err_msg=f"{name}{index}")


# ------------------------------------------------------------------------------------------------
# typed errors
# ------------------------------------------------------------------------------------------------


def test_models_that_are_not_log_log_convex_name_the_offending_subexpression():
    x, y = od.Variable(name="x", pos=True), od.Variable(name="y", pos=True)
    free = od.Variable(name="w")
    cases = [
        (od.Problem(od.Minimize(x - y), [x * y >= 1]), "-y: subtraction and negation"),
        (od.Problem(od.Minimize(x + free)), "variable 'w' is not declared pos=True"),
        (od.Problem(od.Minimize(x), [od.minimum(x, y) + x <= 1]),
         "applied to the log-log concave argument minimum(x, y)"),
        (od.Problem(od.Minimize(x), [x <= od.maximum(x, y)]), "maximum(x, y) is log-log convex"),
        (od.Problem(od.Maximize(x + y), [x <= 1]), "must be log-log concave"),
        (od.Problem(od.Minimize(x), [x * od.Parameter(name="q") >= 1]), "parameter 'q' is not declared pos=True"),
        (od.Problem(od.Minimize(x), [x >= -1.0]), "the constant is not positive"),
    ]
    for problem, phrase in cases:
        assert not problem.is_dgp()
        with pytest.raises(od.DGPError, match=phrase.replace("(", r"\(").replace(")", r"\)")) as error:
            problem.compile(gp=True)
        assert isinstance(error.value, od.DCPError)


def test_non_positive_parameter_values_are_refused(box):
    for bad in (-1.0, 0.0):
        with pytest.raises(od.ParameterError, match="parameter 'floor' of shape \\(\\) is declared pos"):
            box(wall=100.0, floor=bad)
        with pytest.raises(od.ParameterError, match="'low'"):
            od.Parameter(name="low", pos=True, value=bad)
    status = jax.jit(lambda floor: box(wall=100.0, floor=floor).status)(jnp.asarray(-1.0))
    assert int(status) == INVALID_PARAMETER


def test_gp_options_and_parameter_exponents_outside_gps():
    x, c = od.Variable(name="x", pos=True), od.Parameter(name="c")
    with pytest.raises(od.CompileError, match="nonconvex"):
        od.Problem(od.Minimize(x), [x >= 1]).compile(gp=True, nonconvex=True)
    with pytest.raises(od.DCPError, match="parameter exponent c"):
        od.Problem(od.Minimize(x**c), [x >= 1]).compile()
    with pytest.raises(od.ModelingError, match="pos and nonpos"):
        od.Variable(name="v", pos=True, nonpos=True)
