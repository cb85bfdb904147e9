"""The .opt language: files give the same problems as Python, to_opt round trips, located errors, LaTeX."""

import inspect
import re
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import optdsl as od
import optdsl.modeling as om
from optdsl.grammar import (
    LocatedDCPError,
    LocatedModelingError,
    LocatedShapeError,
    OptEncodingError,
    OptLimitError,
    OptNameError,
    OptSourceError,
    OptSyntaxError,
    load,
    parse,
    parse_expression,
)
from optdsl.grammar.functions import CONES, FUNCTIONS
from optdsl.modeling import DCPError, ModelingError, ShapeError

rng = np.random.default_rng(0)


# ---- the same problem from a file and from Python ------------------------------------------------
def lasso():
    A, b = od.Parameter((5, 3), name="A"), od.Parameter(5, name="b")
    lam, x = od.Parameter(nonneg=True, name="lam"), od.Variable(3, name="x")
    problem = od.Problem(
        od.Minimize(0.5 * od.sum_squares(A @ x - b) + lam * od.norm1(x)),
        [x >= -1, (od.sum(x) <= 10).named("budget")],
    )
    text = """# lasso.opt
dim m, n
param A[m, n]
param b[m]
param lam >= 0
var x[n]
minimize 0.5 * sum_squares(A @ x - b) + lam * norm1(x)
subject to
  x >= -1
  budget: sum(x) <= 10
"""
    return problem, text, {"m": 5, "n": 3}


def qp():
    P, q = od.Parameter((4, 4), name="P"), od.Parameter(4, name="q")
    G, h = od.Parameter((2, 4), name="G"), od.Parameter(2, name="h")
    x = od.Variable(4, name="x")
    problem = od.Problem(
        od.Minimize(0.5 * od.quad_form(x, P) + q @ x), [G @ x <= h, od.sum(x) == 1, x >= 0]
    )
    text = """dim n, k
param P[n, n]
param q[n]
param G[k, n]
param h[k]
var x[n]
minimize 0.5 * quad_form(x, P) + q @ x
subject to
  G @ x <= h
  sum(x) == 1
  x >= 0
"""
    return problem, text, {"n": 4, "k": 2}


def socp():
    c, x, t = od.Parameter(3, name="c"), od.Variable(3, name="x"), od.Variable(name="t")
    problem = od.Problem(od.Minimize(c @ x + t), [od.SOC(t, x - 1), od.norm2(x) <= 2])
    text = """param c[3]
var x[3]
var t
minimize c @ x + t
subject to
  SOC(t, x - 1)
  norm2(x) <= 2
"""
    return problem, text, {}


def group_lasso():
    A, B = od.Parameter((6, 4), name="A"), od.Parameter((6, 2), name="B")
    lam, W = od.Parameter(nonneg=True, name="lam"), od.Variable((4, 2), name="W")
    problem = od.Problem(od.Minimize(od.sum_squares(A @ W - B) + lam * od.sum(od.norm2(W, axis=1))))
    text = """dim m, n, k
param A[m, n]
param B[m, k]
param lam nonneg
var W[n, k]
minimize sum_squares(A @ W - B) + lam * sum(norm2(W, axis=1))
"""
    return problem, text, {"m": 6, "n": 4, "k": 2}


def logistic_regression():
    X, y = od.Parameter((8, 3), name="X"), od.Parameter(8, name="y")
    mu, w = od.Parameter(nonneg=True, name="mu"), od.Variable(3, name="w")
    problem = od.Problem(od.Minimize(od.sum(od.logistic(-od.multiply(y, X @ w))) + mu * od.sum_squares(w)))
    text = """dim m, n
param X[m, n]
param y[m]
param mu >= 0
var w[n]
minimize sum(logistic(-multiply(y, X @ w))) + mu * sum_squares(w)
"""
    return problem, text, {"m": 8, "n": 3}


def with_let():
    A, b, x = od.Parameter((5, 3), name="A"), od.Parameter(5, name="b"), od.Variable(3, name="x")
    r = A @ x - b
    problem = od.Problem(od.Minimize(od.sum_squares(r) + od.norm1(r)), [r <= 1])
    text = """param A[5, 3]
param b[5]
var x[3]
let r = A @ x - b
minimize sum_squares(r) + norm1(r)
subject to
  r <= 1
"""
    return problem, text, {}


def slicing_and_transpose():
    X, y = od.Variable((3, 4), name="X"), od.Variable(4, name="y")
    problem = od.Problem(
        od.Minimize(od.sum(X[:, 0]) + od.sum(y[1:3]) - y[-1] + od.sum(y[::2]) + od.sum(X.T @ X[:, 1])),
        [X[1:, ::2] <= 1, y[[0, 2]] >= [0, -0.5], (X @ y).T <= 2, X.T[0] == y[:3]],
    )
    text = """var X[3, 4]
var y[4]
minimize sum(X[:, 0]) + sum(y[1:3]) - y[-1] + sum(y[::2]) + sum(X' @ X[:, 1])
subject to
  X[1:, ::2] <= 1
  y[[0, 2]] >= [0, -0.5]
  (X @ y)' <= 2
  X'[0] == y[:3]
"""
    return problem, text, {}


def keywords_and_maximize():
    X, x = od.Variable((3, 3), name="X"), od.Variable(3, name="x")
    problem = od.Problem(
        od.Maximize(od.log_det(X) - od.huber(od.sum(X, axis=1) - x, M=2).sum() - od.norm(x, 2) - od.pnorm(x, p=3)),
        [
            (X >> 0).named("psd"),
            (od.sum(X, axis=0, keepdims=True) <= 1).named("columns"),
            od.cumsum(x, axis=0) <= od.reshape(od.diag(X), (3,)),
            od.log_sum_exp(x) <= 5,
        ],
    )
    text = """var X[3, 3]
var x[3]
maximize log_det(X) - sum(huber(sum(X, axis=1) - x, M=2)) - norm(x, 2) - pnorm(x, p=3)
subject to
  psd: X >> 0
  columns: sum(X, axis=0, keepdims=True) <= 1
  cumsum(x, axis=0) <= reshape(diag(X), (3,))
  log_sum_exp(x) <= 5
"""
    return problem, text, {}


def bounds_and_dims():
    u, x = od.Parameter(4, nonneg=True, name="u"), od.Variable(4, name="x")
    z = od.Variable(2, nonpos=True, name="z")
    problem = od.Problem(od.Minimize(od.sum(x) / 4 - od.sum(z)), [x >= -u, x <= u, od.sum(z) >= -1])
    text = """dim n
param u[n] >= 0
var x[n] in [-u, u]
var z[2] <= 0
minimize sum(x) / n - sum(z)
subject to
  sum(z) >= -1
"""
    return problem, text, {"n": 4}


MODELS = [lasso, qp, socp, group_lasso, logistic_regression, with_let, slicing_and_transpose,
          keywords_and_maximize, bounds_and_dims]


@pytest.mark.parametrize("model", MODELS, ids=lambda f: f.__name__)
def test_file_gives_the_python_problem_and_round_trips(model):
    problem, text, dims = model()
    parsed = parse(text, **dims)
    assert parsed == problem and hash(parsed) == hash(problem)
    assert str(parsed) == str(problem)
    written = problem.to_opt()
    assert parse(written) == problem
    assert parse(parsed.to_opt()).to_opt() == written
    assert problem.to_opt(with_data=True) == (written, {})


def test_let_reuses_one_expression_object():
    problem, text, _ = with_let()
    parsed = parse(text)
    sum_squares, norm1 = parsed.objective.expr.args
    assert sum_squares.args[0] is norm1.args[0] is parsed.constraints[0].lhs


def test_every_function_of_the_table_parses_and_round_trips():
    text = """var x[4]
var y[4] >= 0
var X[2, 2]
var t
minimize sum(abs(x)) + sum(entropy(y)) + sum(exp(x)) + sum(huber(x, 0.5)) + sum(inv_pos(y))
subject to
  sum(kl_div(y, y + 1)) + sum(log(y)) + sum(logistic(x)) + sum(maximum(x, y, 1)) <= 1
  sum(minimum(x, y)) + sum(neg(x)) + sum(pos(x)) + sum(power(y, 1.5)) + sum(rel_entr(y, y)) >= -9
  sum(sigmoid(x)) + sum(sin(x)) + sum(sqrt(y)) + sum(square(x)) + sum(tanh(x)) + sum(cos(x)) <= 3
  log_sum_exp(x) + max(x) + min(x, axis=0) + norm(x, "inf") + norm1(x) + norm2(x) + norm_inf(x) <= t
  pnorm(x, 3) + sum_squares(x) + lambda_max(X) + log_det(X) + matrix_frac(x[:2], X) <= t
  quad_form(x[:2], X) + quad_over_lin(x, t) <= 1
  sum(concatenate([x, y], axis=0)) + sum(cumsum(X, axis=1)) + sum(diag(x)) + sum(hstack([x, y])) == 0
  mean(x) + sum(multiply(x, y)) + sum(reshape(X, (4,))) + trace(transpose(X)) + sum(vstack([x, y])) == 1
  sum_largest(x, 2) - sum_smallest(y, 1.5, axis=0) + sigma_max(X) + normNuc(X) + prod(x) - sum(entr(y)) <= t
  lambda_sum_largest(X, 1) - lambda_sum_smallest(X, 1) - lambda_min(X) - harmonic_mean(y) <= t
  sum(kron(X, X)) + sum(bmat([[X, X], [X, X]])) + sum(vec(X, order="C")) + sum(diff(x, k=2)) == 0
  sum(outer(x, y)) + sum(upper_tri(X)) == 0
  SOC(t, x)
  PSD(X)
  ExpCone(x, y, y)
  PowCone3D(y, y + 1, x, [0.2, 0.3, 0.4, 0.5])
  geo_mean(y) + geo_mean(y, [1, 0, 2, 3]) >= 1
"""
    problem = parse(text)
    assert set(FUNCTIONS) | set(CONES) <= set(re.findall(r"(\w+)\(", text))
    assert parse(problem.to_opt()) == problem


def test_function_table_matches_the_python_signatures():
    public = {name for name in om.__all__ if name[0].islower()}
    assert set(FUNCTIONS) == public
    for name, function in [*FUNCTIONS.items(), *CONES.items()]:
        signature = inspect.signature(function.build)
        if function.variadic:
            assert any(p.kind is p.VAR_POSITIONAL for p in signature.parameters.values())
            continue
        for param in function.params:
            assert param.name in signature.parameters, (name, param.name)
            has_default = signature.parameters[param.name].default is not inspect.Parameter.empty
            assert param.required is not has_default, (name, param.name)


def test_layout_comments_line_joining_crlf_tabs_and_no_final_newline():
    problem, _, dims = lasso()
    messy = (
        "\r\n# a comment line\r\n\r\ndim m,\tn   # two dims\r\n  param A[m,\r\n n]\r\nparam b[ m ]\r\n"
        "param lam>=0\r\nvar x[n]\r\nminimize 0.5*sum_squares(\r\n    A@x - b    # residual\r\n)"
        " + lam*norm1(x)\r\n\r\nsubject to\r\n\r\n x>=-1\r\n\tbudget : sum(x)<=10"
    )
    assert parse(messy, **dims) == problem


def test_dims_from_data_literal_sizes_and_dims_in_expressions():
    problem, text, _ = lasso()
    data = {"A": rng.normal(size=(5, 3)), "b": rng.normal(size=5), "lam": 0.1}
    assert parse(text, data=data) == problem
    assert parse(text, data={"A": data["A"]}) == problem
    assert parse(text, data={"b": data["b"]}, n=3) == problem
    assert parse("dim n\nvar x[n]\nminimize sum(x) / n\n", n=7).objective.expr.args[1].value == 7


def test_subscripts_combine_whole_numbers_and_dims():
    text = ("dim n, k\nvar x[n]\nvar X[n, n]\nminimize sum(x[1:n] - x[0:n-1]) + x[n - 1] + sum(x[:2*k])"
            " + x[-(k + 1)] + sum(X[(n - k):, k])\nsubject to\n  x[0:k] >= -1\n")
    x, X = od.Variable(6, name="x"), od.Variable((6, 6), name="X")
    twin = od.Problem(od.Minimize(od.sum(x[1:6] - x[0:5]) + x[5] + od.sum(x[:4]) + x[-3] + od.sum(X[4:, 2])),
                      [x[0:2] >= -1])
    assert parse(text, n=6, k=2) == twin


def test_load_reads_a_file_and_names_it_in_errors(tmp_path):
    problem, text, dims = lasso()
    path = tmp_path / "lasso.opt"
    path.write_text(text)
    assert load(path, **dims) == problem
    bad = tmp_path / "bad.opt"
    bad.write_text("var x[3]\nminimize norm1(y)\n")
    with pytest.raises(OptNameError) as error:
        load(bad)
    assert str(error.value).startswith(f"{bad}:2:16: unknown name y")


def test_top_level_exports():
    assert od.parse is parse and od.load is load
    assert od.OptSyntaxError is OptSyntaxError and od.OptNameError is OptNameError
    assert issubclass(OptSyntaxError, ModelingError) and issubclass(OptNameError, ModelingError)
    assert issubclass(LocatedShapeError, ShapeError) and issubclass(LocatedDCPError, DCPError)


def test_parsed_expressions_evaluate_in_float32_and_float64():
    problem, text, dims = lasso()
    parsed = parse(text, **dims)
    values = {"A": rng.normal(size=(5, 3)), "b": rng.normal(size=5), "lam": 0.3, "x": rng.normal(size=3)}
    expected = 0.5 * np.sum((values["A"] @ values["x"] - values["b"]) ** 2) + 0.3 * np.abs(values["x"]).sum()
    value64 = parsed.objective.expr.evaluate({k: jnp.asarray(v, jnp.float64) for k, v in values.items()})
    value32 = parsed.objective.expr.evaluate({k: jnp.asarray(v, jnp.float32) for k, v in values.items()})
    assert value64.dtype == jnp.float64 and value32.dtype == jnp.float32
    np.testing.assert_allclose(value64, expected, rtol=1e-12)
    np.testing.assert_allclose(value32, expected, rtol=1e-5)


# ---- printing back: constants that cannot be literals become params ------------------------------
def test_large_and_inexact_constants_are_lifted_to_params_with_their_data():
    x = od.Variable(3, name="x")
    C = rng.normal(size=(10, 3))
    d = np.abs(rng.normal(size=10))  # longer than a printed vector literal; C @ x - d stores the constant -d
    small = np.float32(0.1)  # its shortest text, 0.1, reads back as a different float64
    problem = od.Problem(od.Minimize(od.sum_squares(C @ x - d) + small * od.sum(x)), [x <= [1, 2, 3]])
    text, data = problem.to_opt(with_data=True)
    assert text == (
        "param const1[10, 3]\nparam const2[10] <= 0\nparam const3 >= 0\nvar x[3]\n"
        "minimize sum_squares(const1 @ x + const2) + const3 * sum(x)\nsubject to\n  x <= [1, 2, 3]\n"
    )
    np.testing.assert_array_equal(data["const1"], C)
    np.testing.assert_array_equal(data["const2"], -d)
    assert data["const3"] == small and data["const3"].dtype == np.float32
    assert problem.to_opt() == text
    C1, C2 = od.Parameter((10, 3), name="const1"), od.Parameter(10, name="const2", nonpos=True)
    C3 = od.Parameter(name="const3", nonneg=True)
    expected = od.Problem(od.Minimize(od.sum_squares(C1 @ x + C2) + C3 * od.sum(x)), [x <= [1, 2, 3]])
    parsed = parse(text, data=data)
    assert parsed == expected
    point = {"x": rng.normal(size=3)}
    np.testing.assert_allclose(
        parsed.objective.expr.evaluate({**point, **data}), problem.objective.expr.evaluate(point), rtol=1e-7
    )


def test_lifted_names_avoid_names_in_use_and_originals_are_untouched():
    const1 = od.Variable(3, name="const1")
    problem = od.Problem(od.Minimize(od.sum(np.ones((3, 3)) @ const1)))
    before = str(problem)
    text = problem.to_opt()
    assert "param const2[3, 3] >= 0" in text and "const2 @ const1" in text
    assert str(problem) == before


@pytest.mark.parametrize("name", ["to", "SOC", "True", "minimize"])
def test_to_opt_refuses_reserved_names(name):
    problem = od.Problem(od.Minimize(od.sum(od.Variable(2, name=name))))
    with pytest.raises(ModelingError, match=f"'{name}' is a reserved word"):
        problem.to_opt()
    x = od.Variable(2, name="x")
    with pytest.raises(ModelingError, match="constraint named 'var'"):
        od.Problem(od.Minimize(od.sum(x)), [(x >= 0).named("var")]).to_opt()


# ---- errors: type, line, column, message -------------------------------------------------------
LASSO_DATA = "dim m, n\nparam A[m, n]\nparam b[m]\nvar x[n]\nminimize sum_squares(A @ x - b)\n"
MALFORMED = [
    # (text, dims/data, error type, line, column, fragment of the reason)
    ("var x[3]\nminimize sum(x\n", {}, OptSyntaxError, 2, 15, "unexpected end of file; expected one of"),
    ("var x[3]\nminimize sum(x) +\n", {}, OptSyntaxError, 2, 18, "a name, a number"),
    ("var x[3]\n", {}, OptSyntaxError, 1, 9, "expected one of: 'dim', 'let', 'maximize', 'minimize'"),
    ("var x\nminimize x\nvar y\n", {}, OptSyntaxError, 3, 1, "expected one of: 'subject', end of file"),
    ("var x[3]\nminimize sum(x)\nsubject to\n  0 <= x <= 1\n", {}, OptSyntaxError, 4, 10, "write 0 <= x <= 1 as two"),
    ("var x[3]\nminimize sum(x)\nsubject to\n  x < 1\n", {}, OptSyntaxError, 4, 5, "strict inequalities"),
    ("var x[3]\nminimize sum(x)\nsubject to\n  x = 1\n", {}, OptSyntaxError, 4, 5, "written =="),
    ("var x[3]\nminimize sum(x) $ 2\n", {}, OptSyntaxError, 2, 17, "unexpected character '$'"),
    ("var x[3] >= 1\nminimize sum(x)\n", {}, OptSyntaxError, 1, 10, "write other bounds as in [lo, hi]"),
    ("var x[1.5]\nminimize 1\n", {}, OptSyntaxError, 1, 7, "a size must be a whole number"),
    ("var x[3]\nminimize sum(x[::0])\n", {}, OptSyntaxError, 2, 18, "slice step cannot be zero"),
    ("dim n\nvar x[n]\nminimize sum(x[::n - n])\n", {"n": 3}, OptSyntaxError, 3, 18, "slice step cannot be zero"),
    ("dim n\nvar x[n]\nminimize x[n / 2]\n", {"n": 4}, OptSyntaxError, 3, 14, "with +, - and * only, got /"),
    ("dim n\nvar x[n]\nminimize x[1.5 * n]\n", {"n": 4}, OptSyntaxError, 3, 12,
     "a subscript must be a whole number, got 1.5"),
    ('var x[3]\nminimize sum(x)\nsubject to\n  x + "fro" >= 0\n', {}, OptSyntaxError, 4, 7, "got a string"),
    ("var x[3]\nminimize sum([x, 1])\n", {}, OptSyntaxError, 2, 14, "may hold only numbers"),
    ("var x[3]\nminimize sum(x, axis=0, x)\n", {}, OptSyntaxError, 2, 25, "positional argument cannot follow"),
    ("var x[3]\nminimize norm1(y)\n", {}, OptNameError, 2, 16, "unknown name y"),
    ("var x[3]\nminimize nrom1(x)\n", {}, OptNameError, 2, 10, "unknown function nrom1; did you mean norm1?"),
    ("var x[3]\nminimize huber(x, K=2)\n", {}, OptNameError, 2, 19, "huber has no argument named K"),
    ("var x[3]\nminimize sum(x(1))\n", {}, OptNameError, 2, 14, "x is a var, not a function"),
    ("var x[3]\nminimize sum + 1\n", {}, OptNameError, 2, 10, "sum is a function"),
    ("var x[3]\nvar x[2]\nminimize sum(x)\n", {}, OptNameError, 2, 5, "already declared (as a var on line 1)"),
    ("var SOC\nminimize SOC\n", {}, OptNameError, 1, 5, "SOC is a reserved word"),
    ("var x[k]\nminimize sum(x)\n", {}, OptNameError, 1, 7, "size k is not declared"),
    ("dim n\nvar x[n]\nminimize sum(x)\n", {}, OptNameError, 2, 7, "dim n has no size"),
    ("dim n\nvar x[3]\nminimize x[n - 1]\n", {}, OptNameError, 3, 12, "dim n has no size"),
    ("dim n\nvar x[n]\nminimize x[m]\n", {"n": 3}, OptNameError, 3, 12, "unknown dim m"),
    ("param a\nvar x[3]\nminimize x[a]\n", {}, OptNameError, 3, 12, "a is a param, not a dim: a subscript takes"),
    ("var x[3]\nminimize sum(x)\nsubject to\n  a: x >= 0\n  a: x <= 1\n", {}, OptNameError, 5, 3,
     "two constraints are named a (the other is on line 4"),
    (LASSO_DATA, {"data": {"A": np.zeros((5, 3)), "b": np.zeros(4)}}, LocatedShapeError, 3, 9,
     "dim m is 5 (from the data for A) but data for b has size 4 along axis 0"),
    (LASSO_DATA, {"n": 4, "data": {"A": np.zeros((5, 3))}}, LocatedShapeError, 2, 12,
     "dim n is 4 (given as n=4) but data for A has size 3 along axis 1"),
    (LASSO_DATA, {"data": {"A": np.zeros(5)}}, LocatedShapeError, 2, 7,
     "declared as [m, n] but its data has shape (5,)"),
    ("param A[5, 3]\nvar x[4]\nminimize sum_squares(A @ x)\n", {}, LocatedShapeError, 3, 24,
     "matmul: shapes (5, 3) and (4,) are not aligned"),
    ("var x[3]\nminimize sum(x)\nsubject to\n  x <= [1, 2]\n", {}, LocatedShapeError, 4, 5,
     "shapes (3,) and (2,) cannot be broadcast"),
    ("var x[3]\nminimize x\n", {}, LocatedShapeError, 2, 1, "the objective must be a scalar, got shape (3,)"),
    ("var x[3]\nminimize sum(x[5])\n", {}, LocatedShapeError, 2, 16, "index: [5] does not fit shape (3,)"),
    ("var x[3]\nminimize sum(x)\nsubject to\n  x >> 0\n", {}, LocatedShapeError, 4, 5,
     "PSD: shape (3,) is not a square"),
    ("var x[3]\nminimize sum(x, axis=x)\n", {}, LocatedModelingError, 2, 17, "sum: axis must be an integer"),
    ("var x[3]\nminimize sum(huber(x, M=-1))\n", {}, LocatedModelingError, 2, 14, "M must be a positive number"),
    ("var x[3]\nminimize sum(norm1(x, 0, True, 3))\n", {}, LocatedModelingError, 2, 32, "takes at most 3 arguments"),
    ("var x[3]\nminimize sum(x ** x)\n", {}, LocatedModelingError, 2, 16, "the exponent p must be a real number"),
    # the parser's limits: nesting (brackets, or operators and let names) and numbers too large to convert
    ("var x\nminimize " + "(" * 101 + "x" + ")" * 101, {}, OptLimitError, 2, 110, "brackets nest more than 100 deep"),
    ("var x\nminimize sum(" + "[" * 1000 + "1" + "]" * 1000 + ")", {}, OptLimitError, 2, 113,
     "brackets nest more than 100 deep"),
    ("var x\nminimize x" + " * 2" * 101, {}, OptLimitError, 2, 412, "this expression nests 101 deep, more than 100"),
    ("var x\n" + "".join(f"let a{i} = abs({'x' if i == 0 else f'a{i - 1}'})\n" for i in range(101))
     + "minimize a100\n", {}, OptLimitError, 102, 12, "this expression nests 101 deep"),
    (f"var x[{'9' * 5000}]\nminimize sum(x)\n", {}, OptLimitError, 1, 7,
     "a size must be at most 2147483647, got a number of 5000 digits"),
    (f"param A[3, {'9' * 5000}]\nminimize sum(A)\n", {"data": {"A": np.zeros((3, 2))}}, OptLimitError, 1, 12,
     "a size must be at most 2147483647, got a number of 5000 digits"),
    ("var x[2147483648]\nminimize sum(x)\n", {}, OptLimitError, 1, 7, "a size must be at most 2147483647, got 2147"),
    (f"var x[3]\nminimize sum(x[[0, -{'9' * 5000}]])\n", {}, OptLimitError, 2, 20,
     "an index must be at least -9223372036854775807, got a number of 5000 digits"),
    ("var x\nminimize 1e400 * x\n", {}, OptLimitError, 2, 10, "the number 1e400 is too large for a 64-bit float"),
    (f"var x\nminimize {'9' * 400} * x\n", {}, OptLimitError, 2, 10, "the number 999"),
    (f"var x[3]\nminimize sum(x[:{'9' * 19}])\n", {}, OptLimitError, 2, 17,
     "a slice bound must be at most 9223372036854775807, got 9999999999999999999"),
]


@pytest.mark.parametrize(("text", "arguments", "kind", "line", "column", "fragment"), MALFORMED)
def test_malformed_input_gives_a_typed_located_error(text, arguments, kind, line, column, fragment):
    with pytest.raises(OptSourceError) as caught:
        parse(text, filename="model.opt", **arguments)
    error = caught.value
    assert type(error) is kind
    assert (error.line, error.column) == (line, column)
    assert fragment in error.reason
    head, source, caret = str(error).split("\n")
    assert head == f"model.opt:{line}:{column}: {error.reason}"
    assert source == "  " + text.splitlines()[line - 1]
    assert caret == "  " + " " * (column - 1) + "^"


def test_nesting_up_to_the_limit_parses():
    parsed = parse("var x\nminimize " + "abs(" * 99 + "(" + "x" + ")" * 100)
    depth, node = 0, parsed.objective.expr
    while node.args:
        depth, node = depth + 1, node.args[0]
    assert depth == 99 and node is parsed.variables()[0]
    assert parse("var x\nminimize " + "-abs(" * 50 + "x" + ")" * 50)  # 100 deep: 50 negations and 50 calls
    assert parse("var x[3]\nminimize sum(x[00000000000000000000002:])").objective.expr.args[0].shape == (1,)


def test_a_long_sum_is_one_add_built_in_linear_time():
    import time

    from optdsl.modeling.affine.add import Add
    from optdsl.modeling.affine.negation import Negation

    def seconds(terms: int) -> float:
        text = "param c[3]\nvar x[3]\nminimize " + " - ".join(["c @ x"] * terms)
        start = time.perf_counter()
        objective = parse(text).objective.expr
        elapsed = time.perf_counter() - start
        assert type(objective) is Add and len(objective.args) == terms
        assert all(type(term) is Negation for term in objective.args[1:])
        return elapsed

    small, large = min(seconds(1_000) for _ in range(2)), seconds(10_000)
    assert large < 30 * small, (small, large)  # quadratic work would be ~100 times slower


def test_sum_shape_errors_point_at_the_operator_that_fails():
    with pytest.raises(LocatedShapeError) as caught:
        parse("var x[3]\nvar y[2]\nminimize sum(x + x - 1 + y)", filename="m.opt")
    assert (caught.value.line, caught.value.column) == (3, 24)
    assert caught.value.reason == "add: shapes (3,) and (2,) cannot be broadcast together"


def test_load_refuses_a_file_that_is_not_utf8_and_skips_a_byte_order_mark(tmp_path):
    path = tmp_path / "latin1.opt"
    path.write_bytes("var x\n# café au lait\nminimize x\n".encode("latin-1"))
    with pytest.raises(OptEncodingError) as caught:
        load(path)
    assert (caught.value.line, caught.value.column) == (2, 6)
    assert str(caught.value).startswith(f"{path}:2:6: the file is not UTF-8 text: byte 0xe9 cannot be decoded")
    assert str(caught.value).split("\n")[1] == "  # caf\ufffd au lait"
    path.write_bytes(b"\xef\xbb\xbfvar x\nminimize x\n")
    assert load(path) == parse("var x\nminimize x\n")


def test_parse_expression_reads_an_expression_over_a_models_leaves_and_locates_errors_in_it():
    problem, text, dims = lasso()
    parsed = parse(text, **dims)
    expr = parse_expression("sum_squares(A @ x - b) / lam", parsed, filename="--of")
    A, b, lam, x = rng.normal(size=(5, 3)), rng.normal(size=5), 0.7, rng.normal(size=3)
    value = expr.evaluate({"A": A, "b": b, "lam": lam, "x": x})
    np.testing.assert_allclose(value, np.sum((A @ x - b) ** 2) / lam, rtol=1e-12)
    mean = parse_expression("sum(x) / n + m", parse(text, data={"A": A}), filename="--of")  # dims from the data
    np.testing.assert_allclose(mean.evaluate({"x": x}), np.mean(x) + 5, rtol=1e-12)
    with pytest.raises(OptNameError) as caught:
        parse_expression("sum(x) + y", parsed, filename="--of")
    assert str(caught.value) == "--of:1:10: unknown name y\n  sum(x) + y\n           ^"
    with pytest.raises(OptSyntaxError, match=r"^--of:2:1: unexpected '\+'; expected end of file"):
        parse_expression("sum(x)\n+ 1", parsed, filename="--of")


def test_error_message_layout():
    with pytest.raises(LocatedShapeError) as error:
        parse("param A[5, 3]\nparam b[4]\nvar x[3]\nminimize sum_squares(A @ x - b)\n", filename="lasso.opt")
    assert str(error.value) == (
        "lasso.opt:4:28: add: shapes (5,) and (4,) cannot be broadcast together\n"
        "  minimize sum_squares(A @ x - b)\n"
        "                             ^"
    )
    with pytest.raises(OptSyntaxError) as error:
        parse("var x\n\tminimize x\t$", filename="tabs.opt")
    assert str(error.value).splitlines()[1:] == ["  \tminimize x\t$", "  \t" + " " * 10 + "\t^"]  # tabs kept


def test_errors_about_parse_arguments_name_the_file_but_no_line():
    _, text, _ = lasso()
    with pytest.raises(OptNameError, match=r"^lasso.opt: k=3 names no dim of the model \(declared dims: m, n\)"):
        parse(text, filename="lasso.opt", k=3)
    with pytest.raises(OptNameError, match=r"data entry 'x' is not a param of the model \(params: A, b, lam\)$"):
        parse(text, data={"x": np.zeros(3)})
    with pytest.raises(OptNameError, match=r"data entry 'lamb' is not a param .* did you mean lam\?$"):
        parse(text, data={"lamb": 1.0})
    with pytest.raises(OptSourceError, match="dim m must be an integer from 0 to"):
        parse(text, m=-1, n=3)
    with pytest.raises(TypeError, match="text must be a str"):
        parse(b"minimize 1")


def test_dcp_violations_are_located_by_check_dcp():
    text = "dim n\nvar x[n]\nminimize sqrt(sum_squares(x))\nsubject to\n  c: x * x <= 1\n  x >= 0\n"
    parsed = parse(text, filename="bad.opt", n=3)
    x = od.Variable(3, name="x")
    python = od.Problem(od.Minimize(od.sqrt(od.sum_squares(x))), [(x * x <= 1).named("c"), x >= 0])
    assert parsed == python
    with pytest.raises(DCPError) as caught:
        parsed.check_dcp()
    error = caught.value
    assert isinstance(error, LocatedDCPError)
    assert error.violations == tuple(python.dcp_violations())
    assert (error.line, error.column) == (3, 10)
    lines = str(error).splitlines()
    assert lines[0].startswith("bad.opt:3:10: objective: sqrt(sum_squares(x)): concave atom sqrt")
    assert lines[3].startswith("bad.opt:5:8: constraint c: x * x: the product of two non-constant")
    assert lines[5] == "  " + " " * 7 + "^"
    parse("var x[2]\nminimize norm1(x)\n").check_dcp()  # DCP: nothing raised


def test_dcp_violation_without_an_inner_culprit_points_at_its_statement():
    parsed = parse("var x[2]\nminimize -sum_squares(x)\nsubject to\n  ok: square(x) >= x\n", filename="m.opt")
    with pytest.raises(LocatedDCPError) as caught:
        parsed.check_dcp()
    lines = str(caught.value).splitlines()
    assert lines[0].startswith("m.opt:2:1: objective: minimize -sum_squares(x): the objective of minimize must be")
    assert lines[3].startswith("m.opt:4:3: constraint ok: square(x) >= x: the left side of >= must be concave")


# ---- LaTeX ------------------------------------------------------------------------------------
def test_latex_of_lasso_and_of_cones():
    latex = lasso()[0].to_latex()
    assert latex.startswith("\\begin{array}{ll}\n\\text{minimize} & ")
    for fragment in [
        r"\left\|A x - b\right\|_{2}^{2}",
        r"lam \left\|x\right\|_{1}",
        r"\text{subject to} & x \geq -1",
        r"\sum x \leq 10 \quad \text{(budget)}",
    ]:
        assert fragment in latex
    latex = keywords_and_maximize()[0].to_latex()
    for fragment in [r"\text{maximize} & \log\det\left(X\right)", r"\operatorname{huber}_{2}", r"X \succeq 0",
                     r"\left\|x\right\|_{3}", r"\sum_{\text{axis 0}} X"]:
        assert fragment in latex
    latex = socp()[0].to_latex()
    assert r"\left\|x - 1\right\|_{2} \leq t" in latex and r"c^{T} x + t" in latex
    latex = slicing_and_transpose()[0].to_latex()
    assert r"\sum X_{:, 0} + \sum y_{1:3} - y_{-1}" in latex and r"\left(X^{T}\right)_{0} = y_{:3}" in latex
    assert r"\frac{\sum x}{4}" in bounds_and_dims()[0].to_latex()


@pytest.mark.parametrize("model", MODELS, ids=lambda f: f.__name__)
def test_latex_is_balanced(model):
    latex = model()[0].to_latex()
    assert latex.count("{") == latex.count("}")
    assert latex.count(r"\left") == latex.count(r"\right")
    assert not re.search(r"_\{[^{}]*\}_\{|\^\{[^{}]*\}\^\{", latex)  # no double scripts such as x_{1}_{2}


# ---- the language reference ---------------------------------------------------------------------
DOC = Path(__file__).resolve().parents[1] / "docs" / "opt-language.md"


def test_reference_examples_parse_and_its_errors_are_exact():
    blocks = re.findall(r"```([\w ]*)\n(.*?)```", DOC.read_text(), re.S)
    models = [text for info, text in blocks if info == "opt"]
    assert len(models) >= 6
    for text in models:
        dims = {name: 3 for line in re.findall(r"^dim (.*)$", text, re.M) for name in line.split(", ")}
        problem = parse(text, **dims)
        assert parse(problem.to_opt()) == problem
    errors = [(text, blocks[i + 1][1]) for i, (info, text) in enumerate(blocks) if info == "opt error"]
    assert len(errors) >= 4
    for text, message in errors:
        with pytest.raises(OptSourceError) as caught:
            parse(text, filename="model.opt")
        assert str(caught.value) == message.rstrip("\n")
    with pytest.raises(LocatedDCPError) as caught:
        parse("var x[3]\nminimize sqrt(sum_squares(x))\n", filename="model.opt").check_dcp()
    assert str(caught.value) + "\n" in [text for info, text in blocks if info == "text"]


def test_reference_lists_every_function():
    reference = DOC.read_text()
    for name in [*FUNCTIONS, *CONES]:
        assert re.search(rf"[`\s]{name}[`\s(]", reference), name
