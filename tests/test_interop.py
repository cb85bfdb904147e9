"""cvxpy interop: ``to_cvxpy`` / ``from_cvxpy`` on the compiler galleries, atom by atom, and vs cvxpylayers.

* every gallery model (Compiler I and II, and the OptNet QP) goes to cvxpy, is solved there
  with Clarabel and matches the gallery's own reference; coming back it is structurally the
  same problem (constraint names aside: cvxpy constraints carry none);
* round trips (stationary, projected-gradient and KKT lowerings; the conic ones come back
  structurally equal) compile and solve to cvxpy's solution (<= 1e-5);
* each atom and affine operator evaluates to the same value on both sides at random points;
* gradients through ``od.Layer`` of a converted problem match ``cvxpylayers`` (<= 1e-5);
* variable attributes (``symmetric``, ``PSD``, ``bounds``) become constraints, and a one-entry
  objective the scalar it holds;
* unsupported atoms and attributes are errors naming them; ``import optdsl`` does not import cvxpy.
"""

from __future__ import annotations

import subprocess
import sys

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optdsl as od
from optdsl.compiler.conic.canonical import symmetry_equalities
from optdsl.interop import to_cvxpy
from optdsl.interop.errors import InteropError
import test_compiler_gallery as compiler_gallery
import test_conic_gallery as conic_gallery
from test_kkt import optnet_qp

CLARABEL = dict(solver="CLARABEL", tol_gap_abs=1e-9, tol_gap_rel=1e-9, tol_feas=1e-9, max_iter=500)
pytestmark = pytest.mark.filterwarnings("ignore:You are solving a parameterized problem that is not DPP")


def _optnet():
    problem, params = optnet_qp(0)
    reference = lambda p: {"x": _solve(problem.to_cvxpy(p))["x"]}  # noqa: E731 (checked by test_kkt vs cvxpy)
    return problem, params, reference


def _solve(cvx) -> dict[str, np.ndarray]:
    cvx.solve(**CLARABEL)
    assert cvx.status == "optimal", cvx.status
    return {name: v.value for name, v in cvx.var_dict.items()}


def _gallery():
    for name, build in zip(compiler_gallery.NAMES, compiler_gallery.BUILDERS):
        model = build()
        yield pytest.param(model.problem, model.params, model.reference, id=name)
    for name, build in conic_gallery.BUILDERS.items():
        model = build()
        yield pytest.param(model.problem, model.params, lambda p, r=model.reference: r(p)[0], id=name)
    yield pytest.param(*_optnet(), id="optnet_qp")


GALLERY = list(_gallery())


def _unnamed_key(constraint) -> tuple:
    kind, _name, data, args = constraint.structure_key()
    return kind, data, args


@pytest.mark.parametrize("problem, params, reference", GALLERY)
def test_to_cvxpy_solves_like_the_reference_and_comes_back_unchanged(problem, params, reference):
    cvx = problem.to_cvxpy(params)
    assert len(cvx.constraints) == len(problem.constraints) + len(symmetry_equalities(problem))  # those follow
    ours, theirs = _solve(cvx), reference(params)
    for name, value in theirs.items():
        np.testing.assert_allclose(ours[name], value, atol=1e-5, err_msg=name)

    back, values = od.from_cvxpy(cvx)
    assert sorted(values) == sorted(params)
    for name, value in params.items():
        np.testing.assert_array_equal(values[name], value)
    assert back.objective == problem.objective
    for ours_c, back_c in zip(problem.constraints, back.constraints):
        if isinstance(ours_c, od.PSD):  # comes back on the symmetric part, which is what optdsl's PSD constrains
            X = np.random.default_rng(0).normal(size=ours_c.expr.shape)
            leaf = {v.name: X for v in ours_c.variables()}
            np.testing.assert_allclose(back_c.expr.evaluate(leaf), (X + X.T) / 2, atol=1e-14)
        else:
            assert _unnamed_key(back_c) == _unnamed_key(ours_c)


ROUND_TRIPS = {"huber": compiler_gallery.huber, "simplex_ls": compiler_gallery.simplex_ls}


@pytest.mark.parametrize("name", [*ROUND_TRIPS, "optnet_qp"])
def test_round_trip_compiles_and_solves_to_cvxpys_solution(name):
    if name == "optnet_qp":
        problem, params, _ = _optnet()
    else:
        model = ROUND_TRIPS[name]()
        problem, params = model.problem, model.params
    cvx = problem.to_cvxpy(params)
    expected = _solve(cvx)
    back, values = od.from_cvxpy(cvx)
    solution = back.compile()(**values)
    for variable, value in expected.items():
        np.testing.assert_allclose(solution[variable], value, atol=1e-5, err_msg=variable)


# ---- atom by atom -------------------------------------------------------------------------------

def _atoms_cvxpy(x, y, X, S, p):
    """cvxpy expressions written the cvxpy way (its own idioms: pos, neg, inv_pos, order='F', ...)."""
    return [
        x + 2, x - p, 2 * x, cp.multiply(p, x), x / 4, -x, X @ x[:3], p @ x,
        x[1:4], x[np.array([0, 2, 4])], X[0, :], X.T, cp.reshape(X, (6,), order="C"),
        cp.reshape(X, (2, 3), order="F"), cp.sum(X, axis=0), cp.sum(X, axis=1, keepdims=True), cp.sum(x),
        cp.trace(S), cp.diag(x), cp.diag(S), cp.cumsum(x), cp.hstack([x, p]), cp.vstack([X, X]),
        cp.concatenate([X, X], axis=1), cp.mean(x),
        cp.abs(x), cp.entr(y), cp.exp(x), cp.huber(x, 0.5), cp.inv_pos(y), cp.kl_div(y, y + 1),
        cp.rel_entr(y, y + 1), cp.lambda_max(S + S.T), cp.log(y), cp.log_det(S @ S.T + np.eye(3)),
        cp.log_sum_exp(X, axis=1), cp.logistic(x), cp.quad_form(x, np.diag(np.arange(1.0, 6.0))),
        cp.max(X, axis=0), cp.min(x), cp.maximum(x, p), cp.minimum(x, 0), cp.pos(x), cp.neg(x),
        cp.norm1(x), cp.norm(x, 2), cp.norm(X, "fro"), cp.norm(X, 2, axis=1), cp.norm_inf(x), cp.pnorm(y, 3),
        cp.power(y, 3), cp.power(y, 1.5), cp.sqrt(y), cp.square(x), cp.sum_squares(X), cp.quad_over_lin(x, y[0]),
        cp.matrix_frac(x[:3], S @ S.T + np.eye(3)),
    ]


def test_from_cvxpy_evaluates_every_atom_like_cvxpy():
    rng = np.random.default_rng(0)
    x, y, p = cp.Variable(5, name="x"), cp.Variable(5, name="y"), cp.Parameter(5, name="p")
    X, S = cp.Variable((2, 3), name="X"), cp.Variable((3, 3), name="S")
    values = {"x": rng.normal(size=5), "y": rng.random(5) + 0.5, "p": rng.normal(size=5),
              "X": rng.normal(size=(2, 3)), "S": rng.normal(size=(3, 3))}
    for leaf in (x, y, X, S, p):
        leaf.value = values[leaf.name()]
    expressions = _atoms_cvxpy(x, y, X, S, p)
    problem, param_values = od.from_cvxpy(cp.Problem(cp.Minimize(0), [e == 0 for e in expressions]))
    np.testing.assert_array_equal(param_values["p"], values["p"])
    ours = jax.jit(lambda v: [c.lhs.evaluate(v) for c in problem.constraints])(values)
    for expression, value in zip(expressions, ours):
        np.testing.assert_allclose(value, expression.value, rtol=1e-12, atol=1e-12, err_msg=str(expression))


def test_to_cvxpy_evaluates_every_atom_like_optdsl():
    rng = np.random.default_rng(1)
    x, y = od.Variable(5, name="x"), od.Variable(5, name="y", nonneg=True)
    X, S, p = od.Variable((2, 3), name="X"), od.Variable((3, 3), name="S"), od.Parameter(5, name="p")
    values = {"x": rng.normal(size=5), "y": rng.random(5) + 0.5, "p": rng.normal(size=5),
              "X": rng.normal(size=(2, 3)), "S": rng.normal(size=(3, 3))}
    expressions = [
        x + 2, x - p, od.multiply(p, x), x / 4, -x, X @ x[:3], p @ x, x[1:4], x[np.array([0, 2, 4])], X.T,
        od.reshape(X, (3, 2)), od.sum(X, axis=0), od.sum(X, axis=1, keepdims=True), od.trace(S), od.diag(x),
        od.diag(S), od.cumsum(X, axis=1), od.hstack([x, p]), od.vstack([X, X]), od.concatenate([X, X], axis=1),
        od.mean(x), od.abs(x), od.entropy(y), od.exp(x), od.huber(x, 0.5), od.inv_pos(y), od.kl_div(y, y + 1),
        od.rel_entr(y, y + 1), od.lambda_max(S + S.T), od.log(y), od.log_det(S @ S.T + np.eye(3)),
        od.log_sum_exp(X, axis=1), od.logistic(x), od.quad_form(x, np.diag(np.arange(1.0, 6.0))),
        od.max(X, axis=0), od.min(x), od.maximum(x, p, 0), od.minimum(x, 0), od.pos(x), od.neg(x),
        od.norm1(X, axis=1), od.norm2(x), od.norm2(X), od.norm2(X, axis=0), od.norm_inf(x), od.pnorm(y, 3),
        od.power(y, 3), od.sqrt(y), od.square(x), od.sum_squares(X), od.quad_over_lin(x, y[0]),
        od.matrix_frac(x[:3], S @ S.T + np.eye(3)),
    ]
    problem = od.Problem(od.Minimize(0), [e == 0 for e in expressions])
    cvx = problem.to_cvxpy({"p": values["p"]})
    for name, leaf in cvx.var_dict.items():
        leaf.value = values[name]
    ours = jax.jit(lambda v: [e.evaluate(v) for e in expressions])(values)
    for expression, value, constraint in zip(expressions, ours, cvx.constraints):
        np.testing.assert_allclose(constraint.args[0].value, value, rtol=1e-12, atol=1e-12, err_msg=str(expression))


def test_variable_attributes_become_constraints():
    X = cp.Variable((3, 3), PSD=True, name="X")
    S = cp.Variable((2, 2), symmetric=True, name="S")
    problem, _ = od.from_cvxpy(cp.Problem(cp.Minimize(cp.sum_squares(X) + cp.sum_squares(S))))
    assert [str(c) for c in problem.constraints] == [
        "X[[0, 0, 1], [1, 2, 2]] == X[[1, 2, 2], [0, 0, 1]]", "X >> 0", "S[[0], [1]] == S[[1], [0]]"]


def test_psd_of_a_matrix_that_is_not_symmetric_means_on_each_side_what_it_means_there():
    # cvxpy's X >> 0 constrains (X + X') / 2 only; optdsl's PSD(X) makes X symmetric too. Here the difference moves
    # the optimum (X[0, 1] >= 0.1 binds X[1, 0] only in optdsl).
    weights = np.diag([1.0, 2.0, 3.0])
    X = cp.Variable((3, 3), name="X")
    cvx = cp.Problem(cp.Minimize(cp.trace(weights @ X)), [X >> 0, cp.trace(X) == 1, X[0, 1] >= 0.1])
    problem, _ = od.from_cvxpy(cvx)
    assert str(problem.constraints[0]) == "0.5 * (X + X') >> 0"
    np.testing.assert_allclose(problem.compile()().objective, cvx.solve(**CLARABEL), rtol=1e-7)

    Y = od.Variable((3, 3), name="Y")
    native = od.Problem(od.Minimize(od.trace(weights @ Y)), [od.PSD(Y), od.trace(Y) == 1, Y[0, 1] >= 0.1])
    back = to_cvxpy(native)
    assert len(back.constraints) == 4  # the symmetry of Y follows the model's three constraints
    value = native.compile()().objective
    np.testing.assert_allclose(back.solve(**CLARABEL), value, rtol=1e-7)
    assert value > cvx.value + 1e-3


def test_bounds_become_constraints_and_a_one_entry_objective_is_a_scalar():
    x = cp.Variable(3, name="x", bounds=[np.array([-1.0, -np.inf, 0.5]), 2.0])
    low = cp.Parameter(2, name="low", value=np.array([0.3, -4.0]))
    y = cp.Variable(2, name="y", bounds=[low, None])
    z = cp.Variable(1, name="z")
    target = np.array([-3.0, 5.0, 0.0])
    cvx = cp.Problem(cp.Minimize(cp.square(z - 1) + cp.sum_squares(x - target) + cp.sum_squares(y)))
    problem, params = od.from_cvxpy(cvx)
    assert [str(c) for c in problem.constraints] == [
        "[-1, 0.5] <= x[[0, 2]]", "x <= 2", "low <= y"]
    assert problem.objective.expr.shape == ()
    sol = problem.compile()(params)
    reference = _solve(cvx)
    for name in ("x", "y", "z"):
        np.testing.assert_allclose(sol[name], reference[name], atol=1e-6, err_msg=name)


def test_unsupported_parts_are_named():
    x = cp.Variable(3, name="x")
    with pytest.raises(InteropError, match="xexp"):
        od.from_cvxpy(cp.Problem(cp.Minimize(cp.sum(cp.xexp(x)))))
    with pytest.raises(InteropError, match="integer"):
        od.from_cvxpy(cp.Problem(cp.Minimize(cp.sum(cp.Variable(2, integer=True)))))
    with pytest.raises(InteropError, match="cvxpy.Problem"):
        od.from_cvxpy("minimize x")
    z = od.Variable(2, name="z")
    with pytest.raises(InteropError, match="'sin'"):
        od.Problem(od.Minimize(od.sum(od.sin(z)))).to_cvxpy()
    with pytest.raises(InteropError, match=r"unknown parameters \['q'\]"):
        od.Problem(od.Minimize(od.sum_squares(z))).to_cvxpy({"q": 1.0})


def test_leaf_names_are_kept_or_made_unique():
    a, b = cp.Variable(2, name="w"), cp.Variable(2, name="w")
    problem, _ = od.from_cvxpy(cp.Problem(cp.Minimize(cp.sum_squares(a) + cp.sum_squares(b - 1))))
    assert [v.name for v in problem.variables()] == ["w", "w_2"]


# ---- gradients vs cvxpylayers --------------------------------------------------------------------

@pytest.mark.parametrize("build", [compiler_gallery.nnls, compiler_gallery.lasso, conic_gallery.lp],
                         ids=["nnls", "lasso", "lp"])
def test_layer_gradients_match_cvxpylayers(build):
    from cvxpylayers.jax import CvxpyLayer

    model = build()
    cvx = model.problem.to_cvxpy(model.params)
    assert cvx.is_dpp()
    parameters = list(cvx.param_dict.values())
    variable = next(iter(cvx.var_dict.values()))
    values = [jnp.asarray(model.params[p.name()]) for p in parameters]
    theirs_layer = CvxpyLayer(cvx, parameters=parameters, variables=[variable])
    ours_layer = od.Layer(cvx, parameters=parameters, variables=[variable])

    def loss(layer, **kwargs):
        return lambda *v: jnp.sum(jnp.sin(layer(*v, **kwargs)[0]))

    argnums = tuple(range(len(values)))
    theirs = jax.grad(loss(theirs_layer, solver_args={"eps": 1e-10}), argnums)(*values)
    ours = jax.grad(loss(ours_layer), argnums)(*values)
    for parameter, a, b in zip(parameters, ours, theirs):
        np.testing.assert_allclose(a, b, atol=1e-5, err_msg=parameter.name())


def test_import_optdsl_does_not_import_cvxpy():
    code = ("import sys, optdsl; optdsl.Layer; optdsl.from_cvxpy; "
            "assert 'cvxpy' not in sys.modules, 'cvxpy imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_from_cvxpy_keeps_parameter_values_and_symmetric_parameters():
    x = cp.Variable(2, name="x")
    C = cp.Parameter((2, 2), name="C", symmetric=True, value=[[2.0, 0.5], [0.5, 1.0]])
    d = cp.Parameter(2, name="d", value=[1.0, -1.0])
    reference = cp.Problem(cp.Minimize(cp.quad_form(x, np.eye(2)) + cp.sum(C @ x) + d @ x))
    problem, values = od.from_cvxpy(reference)
    assert [p.value.tolist() for p in problem.parameters()] == [values[p.name].tolist() for p in problem.parameters()]
    value = problem.solve()
    reference.solve(solver=cp.CLARABEL)
    assert problem.status == reference.status == "optimal"
    assert value == pytest.approx(reference.value, abs=1e-8)
    np.testing.assert_allclose(problem.variables()[0].value, x.value, atol=1e-6)


def test_layers_of_one_cvxpy_problem_share_its_conversion_and_compilation():
    x, c = cp.Variable(2, name="x"), cp.Parameter(2, name="c")
    budget = cp.sum(x) == 1
    reference = cp.Problem(cp.Minimize(cp.sum_squares(x - c)), [budget])
    primal = od.Layer(reference, parameters=[c], variables=[x])
    dual = od.Layer(reference, parameters=[c], variables=[budget.dual_variables[0], x])
    assert primal.compiled is dual.compiled
    (x_star,), (nu, x_again) = primal(np.array([1.0, 2.0])), dual(np.array([1.0, 2.0]))
    np.testing.assert_allclose(x_star, [0.0, 1.0], atol=1e-8)  # x = c - nu / 2, nu = 2 (sum(c) - 1) / n
    np.testing.assert_allclose(x_again, x_star, atol=1e-12)
    np.testing.assert_allclose(nu, 2.0, atol=1e-8)
    with pytest.raises(InteropError, match="cvxpy.Problem"):
        od.Layer("not a problem", parameters=[], variables=[])


def test_to_cvxpy_takes_the_parameter_values_a_call_leaves_out():
    x = od.Variable(2, name="x")
    c = od.Parameter(2, name="c", value=[1.0, 2.0])
    lam = od.Parameter(name="lam", nonneg=True)
    problem = od.Problem(od.Minimize(od.sum_squares(x - c) + lam * od.sum(x)))
    cvx = problem.to_cvxpy({"lam": 2.0})
    assert cvx.param_dict["c"].value.tolist() == [1.0, 2.0]
    assert cvx.param_dict["lam"].value == 2.0
    cvx.solve(solver=cp.CLARABEL)
    np.testing.assert_allclose(cvx.var_dict["x"].value, [0.0, 1.0], atol=1e-7)  # x = c - lam / 2
    assert to_cvxpy(problem, {"c": [0.0, 0.0]}).param_dict["c"].value.tolist() == [0.0, 0.0]
    assert to_cvxpy(problem).param_dict["lam"].value is None


@pytest.mark.parametrize("transform", [jax.jit, jax.grad], ids=["jit", "grad"])
def test_values_inside_a_traced_function_are_a_typed_error_that_names_the_traceable_calls(transform):
    x, c = od.Variable(2, name="x"), od.Parameter(2, name="c")
    problem = od.Problem(od.Minimize(od.sum_squares(x - c)))

    def solve_then_read(c_value):
        problem.solve(c=c_value)
        return jnp.sum(x.value)

    def set_then_solve(c_value):
        c.value = c_value
        return problem.solve()

    with pytest.raises(od.ArgumentTypeError, match=r"Problem.solve .*traced function.*problem.compile\(\)"):
        transform(solve_then_read)(jnp.ones(2))
    with pytest.raises(od.ArgumentTypeError, match=r"parameter 'c': setting .value inside a traced.*od.Layer"):
        transform(set_then_solve)(jnp.ones(2))
    assert x.value is None and c.value is None
    problem.solve(c=jnp.ones(2))  # concrete values are fine
    np.testing.assert_allclose(x.value, [1.0, 1.0], atol=1e-8)


def test_a_float32_layer_returns_the_float64_solution_rounded():
    x, c = cp.Variable(3, name="x"), cp.Parameter(3, name="c")
    layer = od.Layer(cp.Problem(cp.Minimize(cp.sum_squares(x - c) + cp.norm1(x))), parameters=[c], variables=[x])
    c64 = np.array([0.3, -1.7, 2.9])
    (x64,), ((x32,), solution) = layer(c64), layer(c64.astype(np.float32), return_solution=True)
    assert x32.dtype == solution.objective.dtype == jnp.float32 and x64.dtype == jnp.float64
    np.testing.assert_array_equal(x32, x64.astype(jnp.float32))
    np.testing.assert_allclose(x64, [0.0, -1.2, 2.4], atol=1e-9)  # soft thresholding of c at 1/2
    grad = jax.grad(lambda c: jnp.sum(layer(c)[0] ** 2))(jnp.asarray(c64, jnp.float32))
    assert grad.dtype == jnp.float32
    np.testing.assert_allclose(grad, [0.0, -2.4, 4.8], rtol=1e-6)
