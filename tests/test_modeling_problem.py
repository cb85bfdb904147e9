"""Constraints and Problem: exact text, structural equality, names, duals, immutability."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optdsl as od
from optdsl.modeling import Equality, Inequality, ModelingError


def lasso_leaves():
    return (od.Variable(5, name="x"), od.Parameter(nonneg=True, name="lam"), od.Parameter((8, 5), name="A"),
            od.Parameter(8, name="b"))


def lasso(constraints=True):
    x, lam, A, b = lasso_leaves()
    objective = od.Minimize(0.5 * od.sum_squares(A @ x - b) + lam * od.norm1(x))
    return od.Problem(objective, [x >= 0, (od.sum(x) == 1).named("budget")] if constraints else [])


def test_lasso_text():
    assert str(lasso(constraints=False)) == "minimize 0.5 * sum_squares(A @ x - b) + lam * norm1(x)"
    assert str(lasso()) == (
        "minimize 0.5 * sum_squares(A @ x - b) + lam * norm1(x)\n"
        "subject to\n"
        "  x >= 0\n"
        "  budget: sum(x) == 1"
    )


def test_qp_text():
    x = od.Variable(3, name="x")
    P, q = od.Parameter((3, 3), name="P"), od.Parameter(3, name="q")
    G, h = od.Parameter((2, 3), name="G"), od.Parameter(2, name="h")
    problem = od.Problem(
        od.Minimize(0.5 * od.quad_form(x, P) + q @ x),
        [G @ x <= h, (od.sum(x) == 1).named("total"), x >= -1, x <= [1, 2, 3], -x[0] <= 2 * x[1:].sum() - 1e-06],
    )
    assert str(problem) == (
        "minimize 0.5 * quad_form(x, P) + q @ x\n"
        "subject to\n"
        "  G @ x <= h\n"
        "  total: sum(x) == 1\n"
        "  x >= -1\n"
        "  x <= [1, 2, 3]\n"
        "  -x[0] <= 2 * sum(x[1:]) - 1e-06"
    )


def test_socp_text():
    x, t = od.Variable(4, name="x"), od.Variable(name="t")
    F, g, c = od.Parameter((3, 4), name="F"), od.Parameter(3, name="g"), od.Parameter(4, name="c")
    problem = od.Problem(
        od.Minimize(c @ x + t),
        [od.SOC(t, F @ x - g), od.norm2(x[0:2]) <= 0.5 * t, od.SOC(x[:2], od.reshape(x, (2, 2)), axis=1).named("rows"),
         od.norm(F.T @ g - x, 2) <= (t + 1) / 2],
    )
    assert str(problem) == (
        "minimize c @ x + t\n"
        "subject to\n"
        "  SOC(t, F @ x - g)\n"
        "  norm2(x[0:2]) <= 0.5 * t\n"
        "  rows: SOC(x[:2], reshape(x, (2, 2)), axis=1)\n"
        "  norm2(F' @ g - x) <= (t + 1) / 2"
    )


def test_maximize_and_cone_text():
    X, Y = od.Variable((2, 2), name="X"), od.Parameter((2, 2), name="Y")
    u, v, w = (od.Variable(3, name=n) for n in "uvw")
    problem = od.Problem(od.Maximize(od.log_det(X)), [X >> 0, X << Y, 0 >> -X, X >> Y, od.ExpCone(u, v, w)])
    assert str(problem) == (
        "maximize log_det(X)\n"
        "subject to\n"
        "  X >> 0\n"
        "  Y - X >> 0\n"
        "  X >> 0\n"
        "  X - Y >> 0\n"
        "  ExpCone(u, v, w)"
    )


x, y, z = (od.Variable(3, name=n) for n in "xyz")
X, Y = od.Variable((3, 3), name="X"), od.Variable((3, 3), name="Y")
A = od.Parameter((2, 3), name="A")


@pytest.mark.parametrize(
    "expr, text",
    [
        ((x + y) * 2, "(x + y) * 2"),
        (x + y * 2, "x + y * 2"),
        (x - (y - z), "x - (y - z)"),
        ((x - y) - z, "x - y - z"),
        (x + (y + z), "x + y + z"),
        (-(x + y), "-(x + y)"),
        (-x - y, "-x - y"),
        (x - -y, "x + y"),
        (-(x**2), "-x ** 2"),
        ((-x) ** 2, "(-x) ** 2"),
        ((x + y) ** 2, "(x + y) ** 2"),
        (x[0] ** 0.5, "x[0] ** 0.5"),
        (x ** -1, "x ** -1"),
        (x / (y * z), "x / (y * z)"),
        (x * y / z, "x * y / z"),
        (x * (y / z), "x * (y / z)"),
        (-x * y, "-x * y"),
        (x * -y, "x * -y"),
        (A @ (x + y), "A @ (x + y)"),
        ((A @ x)[0], "(A @ x)[0]"),
        (X.T, "X'"),
        ((X + Y).T, "(X + Y)'"),
        (X.T @ x, "X' @ x"),
        (X[:, 1], "X[:, 1]"),
        (x[0:3], "x[0:3]"),
        (x[::2], "x[::2]"),
        (x[1:], "x[1:]"),
        (x[:-1], "x[:-1]"),
        (x[[0, 2]], "x[[0, 2]]"),
        (X[1, [0, 2]], "X[1, [0, 2]]"),
        (X[np.array([0, 1]), 1:2], "X[[0, 1], 1:2]"),
        (od.sum(X, axis=1), "sum(X, axis=1)"),
        (X.sum(axis=-1, keepdims=True), "sum(X, axis=1, keepdims=True)"),
        (x.sum(), "sum(x)"),
        (od.mean(x), "sum(x) / 3"),
        (2 * x, "2 * x"),
        (2.5e-7 * x, "2.5e-07 * x"),
        (-3 * x, "-3 * x"),
        (x + -1, "x - 1"),
        (x - 1, "x - 1"),
        (1 - x, "1 - x"),
        (-1 + x, "-1 + x"),
        (x + np.array([1.0, 2.5, -3.0]), "x + [1, 2.5, -3]"),
        (x - np.array([1.0, 2.0, 3.0]), "x + [-1, -2, -3]"),
        (np.ones((4, 3)) @ x, "const(4x3) @ x"),
        (od.sum(x) + np.arange(10.0), "sum(x) + const(10)"),
        (od.hstack([x, y]), "hstack([x, y])"),
        (od.vstack([x, y]), "vstack([x, y])"),
        (od.hstack([x, 1.0]), "hstack([x, 1])"),
        (od.concatenate([X, Y], axis=1), "concatenate([X, Y], axis=1)"),
        (od.concatenate([x, y]), "concatenate([x, y])"),
        (od.reshape(x, (3, 1)), "reshape(x, (3, 1))"),
        (od.reshape(X, -1), "reshape(X, (9,))"),
        (od.cumsum(X, axis=1), "cumsum(X, axis=1)"),
        (od.cumsum(x), "cumsum(x)"),
        (od.diag(x), "diag(x)"),
        (od.trace(X), "trace(X)"),
        (od.multiply(x, y), "x * y"),
        (abs(x), "abs(x)"),
        (od.pnorm(x, 3), "pnorm(x, 3)"),
        (od.pnorm(X, 1.5, axis=0), "pnorm(X, 1.5, axis=0)"),
        (od.norm1(X, axis=1), "norm1(X, axis=1)"),
        (od.norm(x, np.inf), "norm_inf(x)"),
        (od.huber(x), "huber(x)"),
        (od.huber(x, 2), "huber(x, 2)"),
        (od.power(x, 0.5), "x ** 0.5"),
        (od.maximum(x, 0, y), "maximum(x, 0, y)"),
        (od.log_sum_exp(X, axis=0, keepdims=True), "log_sum_exp(X, axis=0, keepdims=True)"),
        (od.quad_over_lin(x, 2), "quad_over_lin(x, 2)"),
        (od.kl_div(x, y), "kl_div(x, y)"),
    ],
)
def test_expression_text(expr, text):
    assert str(expr) == text


@pytest.mark.parametrize(
    "constraint, text",
    [
        (x <= 1, "x <= 1"),
        (x >= 1, "x >= 1"),
        (0 <= x, "x >= 0"),
        (1 >= x, "x <= 1"),
        (x == y, "x == y"),
        (np.zeros(3) == x, "x == [0, 0, 0]"),
        ((x <= y).named("order"), "order: x <= y"),
        (od.SOC(od.Variable(name="t"), x), "SOC(t, x)"),
        (od.SOC(x, X, axis=0), "SOC(x, X, axis=0)"),
        (od.PSD(X), "X >> 0"),
        (od.ExpCone(x, y, z), "ExpCone(x, y, z)"),
    ],
)
def test_constraint_text(constraint, text):
    assert str(constraint) == text


def test_constraint_kinds_and_orientation():
    geq = x >= y
    assert isinstance(geq, Inequality) and geq.lhs is y and geq.rhs is x
    assert isinstance(x == y, Equality)
    assert (x >= y).structure_key() == (y <= x).structure_key()
    assert str(x >= y) != str(y <= x)


@pytest.mark.parametrize(
    "constraint, shape",
    [
        (x <= 1, (3,)),
        (od.reshape(x, (3, 1)) <= y, (3, 3)),
        (od.sum(x) == 1, ()),
        (od.SOC(od.Variable(), x), (4,)),
        (od.SOC(x, od.Variable((2, 3)), axis=0), (3, 3)),
        (od.SOC(od.Variable(2), od.Variable((2, 5)), axis=1), (2, 6)),
        (X >> 0, (3, 3)),
        (od.ExpCone(x, y, z), (3, 3)),
        (od.ExpCone(X, Y, X), (3, 3, 3)),
    ],
)
def test_dual_shapes(constraint, shape):
    assert constraint.dual_shape == shape


def test_named_returns_a_copy_and_constraints_are_immutable():
    plain = x <= 1
    named = plain.named("cap")
    assert plain.name is None and named.name == "cap" and named is not plain
    assert named.args == plain.args and named.structure_key() != plain.structure_key()
    with pytest.raises(AttributeError):
        named.name = "other"
    with pytest.raises(ModelingError, match="constraint name must be an identifier string, got 'not ok'"):
        plain.named("not ok")


def test_chained_and_unsupported_comparisons_raise():
    with pytest.raises(ModelingError, match="chained comparisons"):
        0 <= x <= 1  # noqa: B015
    with pytest.raises(ModelingError, match="'!=' constraints are not supported"):
        x != 1  # noqa: B015
    with pytest.raises(ModelingError, match="strict inequalities"):
        x < 1  # noqa: B015
    with pytest.raises(ModelingError, match="strict inequalities"):
        x > 1  # noqa: B015
    with pytest.raises(ModelingError, match="not iterable"):
        list(x)


def test_named_constraints_and_leaf_order():
    a, b, c = od.Variable(name="a"), od.Variable(name="b"), od.Variable(name="c")
    p, q = od.Parameter(name="p"), od.Parameter(name="q")
    problem = od.Problem(od.Minimize(q * b + a), [c + p >= 0, (a <= q).named("cap"), b == 1])
    assert [v.name for v in problem.variables()] == ["b", "a", "c"]
    assert [v.name for v in problem.parameters()] == ["q", "p"]
    names = problem.named_constraints()
    assert list(names) == ["c0", "cap", "c2"]
    assert [names[k] for k in names] == list(problem.constraints)
    names.clear()
    assert len(problem.named_constraints()) == 3
    assert isinstance(problem.constraints, tuple)


@pytest.mark.parametrize(
    "build, fragment",
    [
        (lambda: od.Problem(od.Minimize(0), [x <= 1, (x >= 0).named("c0")]), "two constraints are named 'c0'"),
        (lambda: od.Problem(od.Minimize(0), [(x <= 1).named("k"), (x >= 0).named("k")]),
         "two constraints are named 'k'"),
        (lambda: od.Problem(od.Minimize(od.sum(x) + od.sum(od.Variable(3, name="x")))),
         "two different leaves are named 'x'"),
        (lambda: od.Problem(od.Minimize(od.sum(x)), [od.Parameter(name="x") >= 0]),
         "two different leaves are named 'x'"),
        (lambda: od.Problem(od.sum(x)), "the objective must be Minimize(...) or Maximize(...)"),
        (lambda: od.Problem(od.Minimize(od.sum(x)), x >= 0), "constraints must be a list of constraints"),
        (lambda: od.Problem(od.Minimize(od.sum(x)), [x >= 0, True]), "constraint 1 is True (bool), not a constraint"),
        (lambda: od.Variable(name="2x"), "variable: name must be an identifier string"),
        (lambda: od.Parameter(nonneg=True, nonpos=True, name="p"), "parameter 'p': nonneg and nonpos"),
    ],
)
def test_problem_and_leaf_errors(build, fragment):
    with pytest.raises(ModelingError) as error:
        build()
    assert fragment in str(error.value)


def test_structural_equality():
    assert lasso() == lasso() and hash(lasso()) == hash(lasso())
    assert lasso() != lasso(constraints=False)
    x1, lam, A1, b1 = lasso_leaves()
    assert lasso(constraints=False) == od.Problem(od.Minimize(0.5 * od.sum_squares(A1 @ x1 - b1) + lam * od.norm1(x1)))
    variants = [
        od.Maximize(0.5 * od.sum_squares(A1 @ x1 - b1) + lam * od.norm1(x1)),
        od.Minimize(0.25 * od.sum_squares(A1 @ x1 - b1) + lam * od.norm1(x1)),
        od.Minimize(0.5 * od.sum_squares(A1 @ x1 - b1) + lam * od.norm2(x1)),
        od.Minimize(0.5 * od.sum_squares(A1 @ od.Variable(5, name="x", nonneg=True) - b1) + lam),
        od.Minimize(0.5 * od.sum_squares(A1 @ x1 - b1) + od.Parameter(name="lam") * od.norm1(x1)),
        od.Minimize(0.5 * od.sum_squares(A1 @ x1 - b1) + lam * od.norm1(x1, keepdims=True)[0]),
    ]
    reference = lasso(constraints=False)
    for objective in variants:
        assert od.Problem(objective) != reference
    assert od.Problem(od.Minimize(2 * od.sum(x1))) == od.Problem(od.Minimize(2.0 * od.sum(x1)))
    assert od.Problem(od.Minimize(0), [x1 >= 0]) == od.Problem(od.Minimize(0), [0 <= x1])
    assert od.Problem(od.Minimize(0), [x1 >= 0]) != od.Problem(od.Minimize(0), [(x1 >= 0).named("pos")])
    assert od.Problem(od.Minimize(od.sum(x1[[0, 1]]))) != od.Problem(od.Minimize(od.sum(x1[[0, 2]])))
    assert od.Minimize(x1[0]) == od.Minimize(x1[0]) and od.Minimize(x1[0]) != od.Maximize(x1[0])
    assert lasso() != "not a problem"


def test_building_never_mutates_leaves():
    x1, lam, A1, b1 = lasso_leaves()
    before = [(leaf.name, leaf.shape, leaf.sign, leaf.structure_key()) for leaf in (x1, lam, A1, b1)]
    od.Problem(od.Minimize(0.5 * od.sum_squares(A1 @ x1 - b1) + lam * od.norm1(x1)), [x1 >= 0])
    assert before == [(leaf.name, leaf.shape, leaf.sign, leaf.structure_key()) for leaf in (x1, lam, A1, b1)]
    with pytest.raises(AttributeError):
        x1.name = "y"
    with pytest.raises(ValueError):
        od.Constant([1.0, 2.0]).value[0] = 5.0


def test_generated_names_and_identity():
    first, second = od.Variable(), od.Variable()
    assert re.fullmatch(r"var\d+", first.name) and first.name != second.name
    assert re.fullmatch(r"param\d+", od.Parameter().name)
    assert first is not second and len({first, second}) == 2
    assert {first: 1}[first] == 1


def test_repr_mentions_kind_and_text():
    assert repr(od.Variable(3, name="v", nonneg=True)) == "Variable((3,), name='v', nonneg=True)"
    assert repr(x + 1) == "Expression(affine, unknown, (3,)): x + 1"
    assert repr(od.Constant([1, 2])) == "Constant([1.0, 2.0])"
    assert repr(x <= 1) == "Inequality(x <= 1)"
    assert repr(od.Minimize(x[0])) == "Minimize(x[0])"


# ---- cvxpy's habits: leaf values, Problem.solve, leaf objects as keys ------------------------------------------
# A box projection y*(c) = clip(c, lo, hi) of sum_squares(y - c): its value, the multiplier 2 (lo - c) of
# y >= lo where c < lo, and 2 (c - hi) of y <= hi where c > hi are closed forms (cvxpy's signs: >= 0).


@pytest.fixture(scope="module")
def box():
    y, c = od.Variable(2, name="y"), od.Parameter(2, name="c")
    lo, hi = od.Parameter(2, name="lo", value=[0.0, 0.0]), od.Parameter(2, value=[1.0, 1.0])  # hi unnamed
    lower, upper = y >= lo, y <= hi
    problem = od.Problem(od.Minimize(od.sum_squares(y - c)), [lower, upper])
    return {"problem": problem, "y": y, "c": c, "lo": lo, "hi": hi, "lower": lower, "upper": upper}


def test_a_value_is_checked_when_set_and_names_the_leaf():
    p = od.Parameter(2, name="p", nonneg=True, value=[1, 2])
    assert p.value.dtype == np.float64 and p.value.tolist() == [1.0, 2.0]
    cases = [([1.0, -2.0], r"parameter 'p' of shape \(2,\) is declared nonneg but has entry -2.0 at index \(1,\)"),
             ([1.0, 2.0, 3.0], r"parameter 'p' has shape \(2,\); got a value of shape \(3,\)"),
             ("ab", "parameter 'p' must be a number or an array of numbers, got str 'ab'")]
    for value, message in cases:
        with pytest.raises(od.ParameterError, match=message):
            p.value = value
    assert p.value.tolist() == [1.0, 2.0]  # a refused value leaves the old one
    with pytest.raises(ValueError, match="'P' of shape \\(2, 2\\) is declared psd but its smallest eigenvalue is -1"):
        od.Parameter((2, 2), name="P", psd=True, value=[[1.0, 0.0], [0.0, -1.0]])
    with pytest.raises(od.ParameterError, match="variable 'v' of shape \\(\\) is declared nonpos but has entry 3"):
        od.Variable(name="v", nonpos=True).value = 3.0
    p.value = None
    assert p.value is None


def test_parameter_values_are_defaults_and_leaf_objects_are_keys(box):
    solve, y, c, hi = box["problem"].compile_once(), box["y"], box["c"], box["hi"]
    c.value = [-1.0, 0.5]
    np.testing.assert_allclose(solve()[y], [0.0, 0.5], atol=1e-6)
    np.testing.assert_allclose(solve(c=[2.0, 0.3])["y"], [1.0, 0.3], atol=1e-6)
    np.testing.assert_allclose(solve({c: [2.0, 0.3], hi: [3.0, 3.0]})[y], [2.0, 0.3], atol=1e-6)
    with pytest.raises(od.ParameterError, match=r"Parameter\(\(2,\), name='c'\) is not a parameter of this problem"):
        solve({od.Parameter(2, name="c"): [0.0, 0.0]})
    with pytest.raises(od.UnknownNameError, match=r"no variable Variable\(\(2,\), name='y'\) \(not of this problem\)"):
        solve()[od.Variable(2, name="y")]
    # only the parameter given is differentiated; the others are the defaults
    grad = jax.grad(lambda cv: jnp.sum(solve(c=cv)[y]))(jnp.array([-1.0, 0.5]))
    np.testing.assert_allclose(grad, [0.0, 1.0], atol=1e-6)


def test_an_unnamed_parameter_without_value_is_named_with_its_shape(box):
    solve, hi = box["problem"].compile_once(), box["hi"]
    assert re.fullmatch(r"param\d+", hi.name)
    saved, hi.value = hi.value, None
    try:
        with pytest.raises(od.ParameterError, match=rf"missing parameters \['{hi.name}'\] of shapes \(2,\)"):
            solve(c=[0.0, 0.0])
    finally:
        hi.value = saved


def test_solve_fills_values_status_and_duals_like_cvxpy(box):
    problem, y, c, lower, upper = (box[k] for k in ("problem", "y", "c", "lower", "upper"))
    assert problem.status is None or problem.status in od.modeling.problem.CVXPY_STATUS.values()
    value = problem.solve({c: [-1.0, 2.5], box["hi"]: [2.0, 2.0]}, lo=[0.0, 0.0])
    assert problem.status == "optimal" and value == problem.value
    np.testing.assert_allclose(value, 1.0 + 0.25, atol=1e-8)
    np.testing.assert_allclose(y.value, [0.0, 2.0], atol=1e-6)
    np.testing.assert_allclose(lower.dual_value, [2.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(upper.dual_value, [0.0, 1.0], atol=1e-6)
    assert problem.compile_once() is problem.compile_once() is not problem.compile_once(tol=1e-9)


@pytest.mark.parametrize("lo, expected", [([2.0, 0.0], "infeasible"), ([0.0, 0.0], "optimal")])
def test_solve_status_and_value_match_cvxpy(box, lo, expected):
    import cvxpy as cp

    problem, y, lower = box["problem"], box["y"], box["lower"]
    values = {"c": [0.5, 0.5], "lo": lo, box["hi"].name: [1.0, 1.0]}
    reference = problem.to_cvxpy(values)
    reference.solve(solver=cp.CLARABEL)
    value = problem.solve(values)
    assert problem.status == reference.status == expected
    assert value == pytest.approx(reference.value, abs=1e-6)
    if expected == "infeasible":
        assert y.value is None and lower.dual_value is None and value == np.inf
    else:
        np.testing.assert_allclose(y.value, reference.var_dict["y"].value, atol=1e-6)


def test_compile_options_given_as_parameters_are_refused(box):
    with pytest.raises(od.ArgumentError, match=r"\['method'\] are compile options.*options=\{\.\.\.\}"):
        box["problem"].solve(method="kkt")
