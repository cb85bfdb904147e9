"""DCP checks of problems and constraints: DCPError names the innermost offending
sub-expression, the broken rule and, for known idioms, the standard fix."""

import numpy as np
import pytest

import optdsl as od
from optdsl.modeling import DCPError

x = od.Variable(3, name="x")
y = od.Variable(3, name="y")
t = od.Variable(name="t")
X = od.Variable((2, 2), name="X")
P = od.Parameter((3, 3), name="P")
lam = od.Parameter(name="lam")


def violations(objective, constraints=()):
    problem = od.Problem(objective, constraints)
    assert not problem.is_dcp()
    with pytest.raises(DCPError) as error:
        problem.check_dcp()
    assert list(error.value.violations) == problem.dcp_violations()
    return str(error.value)


NON_DCP = [
    (od.Minimize(od.sqrt(od.sum_squares(x))),
     ["sqrt(sum_squares(x)): concave atom sqrt applied to a convex argument sum_squares(x)",
      "sqrt is increasing in it, so it must be concave", "use norm2(x) instead"]),
    (od.Minimize(od.log(od.sum(od.exp(x)))),
     ["log(sum(exp(x))): concave atom log applied to a convex argument sum(exp(x))", "use log_sum_exp(x) instead"]),
    (od.Minimize(od.sum(od.log(1 + od.exp(x)))),
     ["log(1 + exp(x)): concave atom log applied to a convex argument 1 + exp(x)", "use logistic(x) instead"]),
    (od.Minimize(od.sum(x * x)),
     ["x * x: the product of two non-constant expressions x and x is not DCP",
      "one factor must be a constant or a parameter", "use square(x)"]),
    (od.Minimize(x @ x), ["x @ x: the matrix product of two non-constant expressions x and x", "use sum_squares(x)"]),
    (od.Minimize(x @ P @ x), ["x @ P @ x: the matrix product of two non-constant expressions x @ P and x",
                              "use quad_form(x, P)"]),
    (od.Minimize(od.sum(1 / x)),
     ["1 / x: division by the non-constant expression x is not DCP (divide only by constants or parameters)",
      "use inv_pos(x)"]),
    (od.Minimize(od.sum_squares(x) / t), ["sum_squares(x) / t: division by the non-constant expression t",
                                          "use quad_over_lin(x, t)"]),
    (od.Minimize(od.sum(x * od.log(x))), ["x * log(x): the product of two non-constant", "use -entropy(x)"]),
    (od.Minimize(od.sum(od.abs(od.log(x)))),
     ["abs(log(x)): convex atom abs applied to a concave argument log(x) "
      "(abs is not monotone in it, so it must be affine)"]),
    (od.Minimize(od.sum(od.exp(od.sqrt(x)))),
     ["exp(sqrt(x)): convex atom exp applied to a concave argument sqrt(x) "
      "(exp is increasing in it, so it must be convex)"]),
    (od.Minimize(od.sum(od.inv_pos(od.exp(x)))),
     ["inv_pos(exp(x)): convex atom inv_pos applied to a convex argument exp(x) "
      "(inv_pos is decreasing in it, so it must be concave)"]),
    (od.Maximize(od.sum(od.entropy(od.square(x)))),
     ["entropy(square(x)): concave atom entropy applied to a convex argument square(x) "
      "(entropy is not monotone in it, so it must be affine)"]),
    (od.Minimize(od.sum_squares(x) - od.sum_squares(y)),
     ["sum_squares(x) - sum_squares(y): add combines the convex term sum_squares(x) with the concave term "
      "-sum_squares(y), so the result is neither convex nor concave"]),
    (od.Minimize(lam * od.norm1(x)),
     ["lam * norm1(x): multiply is not monotone in the convex argument norm1(x) (the other factor lam has unknown "
      "sign; declare it nonneg or nonpos), so that argument must be affine"]),
    (od.Minimize(od.sum(od.square(x)) + od.sin(t)),
     ["sin(t): sin is a smooth non-convex function (allowed only in non-convex mode)"]),
    (od.Minimize(od.quad_form(x, np.diag([1.0, -1.0, 2.0]))),
     ["quad_form(x, const(3x3)): quad_form with the indefinite matrix const(3x3) is neither convex nor concave"]),
    (od.Minimize(od.quad_form(x, od.Variable((3, 3), name="Q"))),
     ["quad_form(x, Q): quad_form needs a constant or parameter matrix P, but Q contains variables"]),
    (od.Minimize(od.log(od.sum(x))),
     ["objective: minimize log(sum(x)): the objective of minimize must be convex, but log(sum(x)) is concave"]),
    (od.Maximize(od.norm2(x)),
     ["objective: maximize norm2(x): the objective of maximize must be concave, but norm2(x) is convex"]),
    (od.Minimize(od.sum(od.power(od.sqrt(x), 2))),
     ["sqrt(x) ** 2: convex atom power applied to a concave argument sqrt(x) (power is increasing in it, "
      "so it must be convex)"]),
    (od.Minimize(od.log_det(X @ X)),
     ["X @ X: the matrix product of two non-constant expressions X and X"]),
    (od.Minimize(od.sum(x / lam) + od.sum(od.exp(x) / lam)),
     ["exp(x) / lam: divide is not monotone in the convex argument exp(x) (the denominator lam has unknown sign; "
      "declare it nonneg or nonpos), so that argument must be affine"]),
]


@pytest.mark.parametrize("objective, fragments", NON_DCP, ids=[str(o) for o, _ in NON_DCP])
def test_non_dcp_objectives_explain_the_innermost_offender(objective, fragments):
    message = violations(objective)
    for fragment in fragments:
        assert fragment in message


def test_brief_example_text():
    message = violations(od.Minimize(od.sqrt(od.sum_squares(x))))
    assert message == (
        "objective: sqrt(sum_squares(x)): concave atom sqrt applied to a convex argument sum_squares(x) "
        "(sqrt is increasing in it, so it must be concave); use norm2(x) instead"
    )


def test_only_the_innermost_node_is_blamed():
    message = violations(od.Minimize(od.exp(od.sqrt(od.sqrt(od.sum_squares(x)) + 1))))
    assert message.startswith("objective: sqrt(sum_squares(x)): concave atom sqrt")
    assert len(message.splitlines()) == 1


def test_every_offender_is_reported():
    message = violations(od.Minimize(od.sin(x[0]) + od.sqrt(od.sum_squares(y)) + x[1] * x[2]))
    lines = message.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("objective: sin(x[0]): sin is a smooth non-convex function")
    assert lines[1].startswith("objective: sqrt(sum_squares(y)): concave atom sqrt")
    assert lines[2].startswith("objective: x[1] * x[2]: the product of two non-constant expressions")


CONSTRAINTS = [
    (od.sum(od.sqrt(x)) <= 1, "constraint c0: sum(sqrt(x)) <= 1: the left side of <= must be convex, "
                              "but sum(sqrt(x)) is concave"),
    (1 <= od.sum(od.exp(x)), "constraint c0: sum(exp(x)) >= 1: the left side of >= must be concave, "
                             "but sum(exp(x)) is convex"),
    (od.sum(x) >= od.sqrt(t), "constraint c0: sum(x) >= sqrt(t): the right side of >= must be convex, "
                              "but sqrt(t) is concave"),
    (t <= od.norm2(y), "constraint c0: t <= norm2(y): the right side of <= must be concave, but norm2(y) is convex"),
    ((od.norm2(x) == 1).named("unit"), "constraint unit: norm2(x) == 1: each side of == must be affine, "
                                       "but norm2(x) is convex"),
    (od.SOC(od.norm2(x), y), "constraint c0: SOC(norm2(x), y): every argument of SOC must be affine, "
                             "but norm2(x) is convex"),
    (od.ExpCone(x, y, od.exp(x)), "every argument of ExpCone must be affine, but exp(x) is convex"),
    (X @ X >> 0, "constraint c0: X @ X: the matrix product of two non-constant expressions X and X"),
    (x[0] * x[1] <= 1, "constraint c0: x[0] * x[1]: the product of two non-constant expressions"),
]


@pytest.mark.parametrize("constraint, fragment", CONSTRAINTS, ids=[str(c) for c, _ in CONSTRAINTS])
def test_non_dcp_constraints(constraint, fragment):
    assert not constraint.is_dcp()
    assert fragment in violations(od.Minimize(od.sum(x)), [constraint])


def test_violations_name_generated_and_given_constraint_names():
    message = violations(od.Minimize(0), [x >= 0, od.sqrt(t) <= 1, (od.norm2(x) == 1).named("sphere")])
    assert [line.split(":")[0] for line in message.splitlines()] == ["constraint c1", "constraint sphere"]


@pytest.mark.parametrize(
    "problem",
    [
        od.Problem(od.Minimize(0.5 * od.sum_squares(P @ x - y) + od.Parameter(nonneg=True) * od.norm1(x))),
        od.Problem(od.Minimize(od.quad_form(x, np.eye(3)) + x @ np.ones(3)), [x >= -1, od.sum(x) == 1]),
        od.Problem(od.Minimize(t), [od.SOC(t, x - 1), od.norm2(y) <= t, od.ExpCone(x, y, x + y)]),
        od.Problem(od.Maximize(od.log_det(X) + od.sum(od.entropy(x)) - od.norm_inf(y)), [X >> 0, od.trace(X) <= 1]),
        od.Problem(od.Maximize(od.min(od.sqrt(x)) + od.sum(od.log(y)))),
        od.Problem(od.Minimize(od.sum(od.kl_div(x, y)) + od.quad_over_lin(x, t)), [t >= od.inv_pos(t + 1)]),
        od.Problem(od.Minimize(od.lambda_max(X) + od.matrix_frac(x[:2], X) + od.sum(od.huber(x, 2)))),
        od.Problem(od.Minimize(od.log_sum_exp(x) + od.max(od.logistic(x)) - od.sum(od.minimum(od.sqrt(y), 1)))),
    ],
)
def test_dcp_problems_pass(problem):
    assert problem.is_dcp() and problem.dcp_violations() == []
    problem.check_dcp()
    assert all(c.is_dcp() for c in problem.constraints)
