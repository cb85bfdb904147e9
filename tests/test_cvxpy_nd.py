"""cvxpy models with variables and parameters of more than two axes, through ``od.from_cvxpy`` and ``od.Layer``.

Such a leaf of shape ``(*batch, r, c)`` is one optdsl leaf holding its slices (see ``optdsl.interop.cvxpy``):
every supported operation on it evaluates as cvxpy evaluates it, seeded random models (a batch of
minimum-eigenvalue SDPs, a nonnegative least-squares model with broadcasting, reshapes and slices) solve to
cvxpy + Clarabel's answers and to closed forms, with values, duals and parameters in cvxpy's shapes, and the
operations with no such conversion are an ``InteropError`` naming the expression and its shapes. Each model
is compiled once: the seeds are a batch of its parameters' values through one ``od.Layer`` (``-m slow`` adds
an unbatched ``Problem.solve``).
"""

from __future__ import annotations

import cvxpy as cp
import jax
import numpy as np
import pytest

import optdsl as od

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # cvxpy's note on its backend for N-d expressions

SEEDS = range(4)


def _expressions(X, Y, Z, P, A, w):
    """cvxpy expressions of N-d leaves, one per supported rule (X, P: (2, 3, 4); Y positive; Z: (2, 2, 3, 3))."""
    mask = np.arange(24).reshape(2, 3, 4) % 5 == 0
    return [
        X + P, X - A, 2 * X, X / 4, -X, cp.multiply(P, X), cp.multiply(A, X), X + w, X + 1.5,
        X[0], X[1, 2], X[0, 1, 2], X[:, 1, :], X[:, :, 2], X[1, :, 1:3], X[:, 1:, ::2], X[np.array([1, 0])],
        X[mask], X[:, np.array([0, 2]), np.array([1, 3])], Z[1, 0], Z[:, :, 0, 2], Z[:, 1:, 1:, :2],
        cp.reshape(X, (6, 4), order="C"), cp.reshape(X, (4, 6), order="F"), cp.vec(X, order="F"),
        cp.reshape(P, (3, 2, 4), order="C"), cp.reshape(X[0], (2, 3, 2), order="F"), cp.transpose(X, (2, 0, 1)),
        X.T, cp.trace(Z[1, 1]), cp.trace(X[0][:, :3]),
        cp.abs(X), cp.exp(X), cp.log(Y), cp.entr(Y), cp.logistic(X), cp.huber(X, 0.5), cp.kl_div(Y, Y + 1),
        cp.rel_entr(Y, Y + 1), cp.maximum(X, P), cp.minimum(X, 0), cp.pos(X), cp.neg(X), cp.power(Y, 3),
        cp.square(X), cp.sqrt(Y), cp.inv_pos(Y), cp.power(Y, 1.5),
        cp.sum(X), cp.mean(X), cp.max(X), cp.min(X), cp.norm1(X), cp.norm_inf(X), cp.norm(X, 2), cp.pnorm(Y, 3),
        cp.sum_squares(X), cp.log_sum_exp(X), cp.sum_largest(X, 3),
    ]


def test_every_supported_operation_evaluates_like_cvxpy():
    rng = np.random.default_rng(0)
    X, Y = cp.Variable((2, 3, 4), name="X"), cp.Variable((2, 3, 4), name="Y", pos=True)
    Z, P = cp.Variable((2, 2, 3, 3), name="Z"), cp.Parameter((2, 3, 4), name="P")
    A, w = rng.normal(size=(3, 4)), rng.normal(size=4)
    for leaf in (X, Z, P):
        leaf.value = rng.normal(size=leaf.shape)
    Y.value = rng.random(Y.shape) + 0.5
    expressions = _expressions(X, Y, Z, P, A, w)
    problem, param_values = od.from_cvxpy(cp.Problem(cp.Minimize(0), [e == 0 for e in expressions]))
    np.testing.assert_array_equal(param_values["P"], np.reshape(P.value, (6, 4)))
    assert {v.name: v.shape for v in problem.variables()} == {"X": (6, 4), "Y": (6, 4), "Z": (12, 3)}
    values = {leaf.name(): np.reshape(leaf.value, (-1, leaf.shape[-1])) for leaf in (X, Y, Z, P)}
    ours = jax.jit(lambda v: [c.lhs.evaluate(v) for c in problem.constraints])(values)
    for expression, value in zip(expressions, ours):
        np.testing.assert_allclose(np.reshape(value, expression.shape), expression.value, rtol=1e-12, atol=1e-12,
                                   err_msg=str(expression))


def test_masks_and_broadcasting_of_at_most_two_axes_evaluate_like_cvxpy():
    """The same rules serve arrays of at most two axes: a mask selects its true entries, ``broadcast_to`` tiles."""
    rng = np.random.default_rng(1)
    x, M = cp.Variable(3, name="x"), cp.Variable((2, 3), name="M")
    x.value, M.value = rng.normal(size=3), rng.normal(size=(2, 3))
    expressions = [x[np.array([True, False, True])], M[M.value > 0], x + np.ones((2, 3)), M + np.ones((4, 2, 3))]
    problem, _ = od.from_cvxpy(cp.Problem(cp.Minimize(0), [e == 0 for e in expressions]))
    values = {"x": x.value, "M": M.value}
    for expression, constraint in zip(expressions, problem.constraints):
        np.testing.assert_array_equal(np.reshape(constraint.lhs.evaluate(values), expression.shape), expression.value,
                                      err_msg=str(expression))


def test_leaf_attributes_hold_slice_by_slice():
    X = cp.Variable((2, 3, 3), PSD=True, name="X")
    L = cp.Variable((2, 2, 3), bounds=[np.broadcast_to([0.0, -np.inf, 1.0], (2, 2, 3)), 5.0], name="L")
    problem, _ = od.from_cvxpy(cp.Problem(cp.Minimize(cp.sum(X) + cp.sum(L))))
    assert [str(c) for c in problem.constraints] == [
        "X[[0, 0, 1, 3, 3, 4], [1, 2, 2, 1, 2, 2]] == X[[1, 2, 2, 4, 5, 5], [0, 0, 1, 0, 0, 1]]",
        "X[0:3, :] >> 0", "X[3:6, :] >> 0",
        "[0, 1, 0, 1, 0, 1, 0, 1] <= L[[0, 0, 1, 1, 2, 2, 3, 3], [0, 2, 0, 2, 0, 2, 0, 2]]", "L <= 5"]


# ------------------------------------------------------------------------------------------------
# Batched minimum-eigenvalue SDPs: min sum_b <C_b, X_b> s.t. trace(X_b) = 1, X_b PSD, with value
# sum_b lambda_min(C_b), X_b = v_b v_b^T and PSD dual C_b - lambda_min(C_b) I.
# ------------------------------------------------------------------------------------------------

B, N = 3, 3


@pytest.fixture(scope="module")
def eigenvalue_model():
    X = cp.Variable((B, N, N), symmetric=True, name="X")
    C = cp.Parameter((B, N, N), name="C")
    psd = X >> 0
    unit = cp.sum(X[:, np.arange(N), np.arange(N)], axis=1) == 1
    cvx = cp.Problem(cp.Minimize(cp.sum(cp.multiply(C, X))), [psd, unit])
    return cvx, X, C, psd, od.Layer(cvx, [C], [X, psd.dual_variables[0]])


def _symmetric_batch(seed):
    M = np.random.default_rng(seed).normal(size=(B, N, N))
    return M + np.swapaxes(M, 1, 2)


@pytest.fixture(scope="module")
def eigenvalue_solutions(eigenvalue_model):
    layer = eigenvalue_model[-1]
    Cs = np.stack([_symmetric_batch(seed) for seed in SEEDS])
    (Xs, duals), solution = layer(Cs, return_solution=True)
    return Cs, np.asarray(Xs), np.asarray(duals), solution


def test_batched_sdp_matches_closed_form(eigenvalue_solutions):
    Cs, Xs, duals, solution = eigenvalue_solutions
    assert Xs.shape == duals.shape == (len(SEEDS), B, N, N)
    assert od.Layer.status_names(solution.status) == ["solved"] * len(SEEDS)
    eigenvalues, vectors = np.linalg.eigh(Cs)
    np.testing.assert_allclose(solution.objective, eigenvalues[..., 0].sum(axis=-1), atol=1e-6)
    v = vectors[..., 0]
    np.testing.assert_allclose(Xs, v[..., :, None] * v[..., None, :], atol=1e-5)
    np.testing.assert_allclose(duals, Cs - eigenvalues[..., :1, None] * np.eye(N), atol=1e-5)


@pytest.mark.parametrize("seed", SEEDS)
def test_batched_sdp_matches_cvxpy(eigenvalue_model, eigenvalue_solutions, seed):
    cvx, X, C, psd, _ = eigenvalue_model
    C.value = _symmetric_batch(seed)
    cvx.solve(solver="CLARABEL")
    _, Xs, duals, solution = eigenvalue_solutions
    np.testing.assert_allclose(solution.objective[seed], cvx.value, atol=1e-6)
    np.testing.assert_allclose(Xs[seed], X.value, atol=1e-5)
    np.testing.assert_allclose(duals[seed], psd.dual_value, atol=1e-5)


@pytest.mark.slow
def test_gradient_through_an_n_dimensional_parameter_is_the_solution(eigenvalue_model, eigenvalue_solutions):
    """d/dC of min_X <C, X> is the minimiser X (the envelope theorem), in C's cvxpy shape."""
    layer = eigenvalue_model[-1]
    Cs, Xs = eigenvalue_solutions[:2]
    gradient = jax.grad(lambda C: layer(C, return_solution=True)[1].objective)(Cs[0])
    assert gradient.shape == (B, N, N)
    np.testing.assert_allclose(gradient, Xs[0], atol=1e-5)


def test_layer_names_an_n_dimensional_parameter_given_the_wrong_shape(eigenvalue_model):
    with pytest.raises(od.InteropError, match=r"parameter 'C' has shape \(3, 3, 3\); got a value of shape \(9, 3\)"):
        eigenvalue_model[-1](np.zeros((B * N, N)))


# ------------------------------------------------------------------------------------------------
# Nonnegative least squares on a (2, 3, 4) variable: N-d data, a broadcast bound, slices, a reshape.
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def least_squares_model():
    rng = np.random.default_rng(10)
    X = cp.Variable((2, 3, 4), nonneg=True, name="X")
    A = cp.Parameter((2, 3, 4), name="A")
    upper, w = rng.random((3, 4)) + 0.5, rng.random(4) + 0.5
    cvx = cp.Problem(
        cp.Minimize(cp.sum_squares(X - A) + 0.1 * cp.norm1(X) + cp.sum(cp.abs(X[0] - X[1]))),
        [X <= upper, cp.sum(X) <= 6, cp.reshape(X, (6, 4), order="C") @ w >= 0.5, X[:, 1:, ::2] >= 0.05])
    return cvx, X, A, od.Layer(cvx, [A], [X])


def _data(seed):
    return np.random.default_rng(100 + seed).normal(0.4, 1.0, size=(2, 3, 4))


@pytest.fixture(scope="module")
def least_squares_solutions(least_squares_model):
    layer = least_squares_model[-1]
    (Xs,), solution = layer(np.stack([_data(seed) for seed in SEEDS]), return_solution=True)
    return np.asarray(Xs), solution


@pytest.mark.parametrize("seed", SEEDS)
def test_least_squares_matches_cvxpy(least_squares_model, least_squares_solutions, seed):
    cvx, X, A, _ = least_squares_model
    A.value = _data(seed)
    cvx.solve(solver="CLARABEL")
    Xs, solution = least_squares_solutions
    assert Xs.shape == (len(SEEDS), 2, 3, 4)
    np.testing.assert_allclose(solution.objective[seed], cvx.value, atol=1e-6)
    np.testing.assert_allclose(Xs[seed], X.value, atol=1e-5)


@pytest.mark.slow
def test_problem_solve_of_a_conversion_reads_back_in_cvxpys_shape(least_squares_model, least_squares_solutions):
    """``from_cvxpy``'s values solve the converted problem; the N-d variable's value reshapes to cvxpy's.

    Slow: ``Problem.solve`` compiles the unbatched call the layer's batch did not.
    """
    cvx, X, A, layer = least_squares_model
    A.value = _data(0)
    problem, values = od.from_cvxpy(cvx)
    assert values["A"].shape == (6, 4)
    objective = layer.problem.solve(values)  # the layer's problem: its compilation is shared
    (ours,) = [v for v in layer.problem.variables() if v.name == "X"]
    np.testing.assert_allclose(objective, least_squares_solutions[1].objective[0], atol=1e-8)
    np.testing.assert_allclose(np.reshape(ours.value, X.shape), least_squares_solutions[0][0], atol=1e-8)


# ------------------------------------------------------------------------------------------------
# What has no conversion on N-d arrays is refused, naming the expression and its shapes.
# ------------------------------------------------------------------------------------------------


def _refused():
    X, Y = cp.Variable((2, 3, 4), name="X"), cp.Variable((2, 3, 4), name="Y", pos=True)
    Z = cp.Variable((2, 3, 3), name="Z")
    return [
        (cp.sum(X, axis=0), "'Sum' in Sum(X, 0, False)", "shape (3, 4), operands of shapes ((2, 3, 4))"),
        (cp.max(X, axis=2), "'max'", "shape (2, 3), operands of shapes ((2, 3, 4))"),
        (cp.sum(X, axis=(0, 1)), "'Sum'", "shape (4,), operands of shapes ((2, 3, 4))"),
        (X @ np.ones((2, 4, 2)), "'MulExpression'", "shape (2, 3, 2), operands of shapes ((2, 3, 4), (2, 4, 2))"),
        (cp.cumsum(X, axis=0), "'cumsum'", "shape (2, 3, 4)"),
        (cp.trace(Z), "'Trace'", "operands of shapes ((2, 3, 3))"),
        (cp.hstack([X, X]), "'Hstack'", "shape (2, 6, 4)"),
        (cp.geo_mean(Y), "'GeoMeanApprox'", "operands of shapes ((2, 3, 4))"),
    ]


@pytest.mark.parametrize("case", range(len(_refused())))
def test_unsupported_operation_is_refused_with_the_expression_named(case):
    expression, kind, shapes = _refused()[case]
    with pytest.raises(od.InteropError) as error:
        od.from_cvxpy(cp.Problem(cp.Minimize(0), [expression == 0]))
    message = str(error.value)
    assert kind in message and shapes in message and "more than two axes" in message, message


def test_unsupported_constraint_is_refused_with_its_shapes():
    X, Y = cp.Variable((2, 3, 4), name="X"), cp.Variable((2, 3, 4), name="Y")
    with pytest.raises(od.InteropError, match=r"'ExpCone'.*shape \(3, 2, 3, 4\).*more than two axes"):
        od.from_cvxpy(cp.Problem(cp.Minimize(0), [cp.constraints.ExpCone(X, Y, Y)]))
