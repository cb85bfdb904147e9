"""Conic-route derivatives where the embedding's Jacobian is singular: finite, flagged, and right where they exist.

The conic route differentiates the root of the homogeneous self-dual embedding's
residual map. Its Jacobian is singular where the solution or its duals are not
unique (a free direction, dependent equality rows, a degenerate vertex) or strict
complementarity fails (a kink at the solution); there ``Solution.singular`` is set
and the derivatives are least-squares ones. Every model here checks, for every
parameter: ``jax.grad`` (reverse) and ``jax.jacfwd`` (forward) are finite and agree,
and where the solution is differentiable they match central differences in float64.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optdsl as od
from optdsl.runtime.compiled import Solution
from optdsl.runtime.status import SOLVED

H = 1e-6
#: Agreement with central differences, relative to max(1, |fd|): the solves are accurate to ~1e-10.
FD_TOL = 1e-5

Params = dict[str, jax.Array]
Outputs = Callable[[Solution], jax.Array]


class Differentiated:
    """A compiled model and one jitted program: outputs, both Jacobians (reverse, forward), flag and status."""

    def __init__(self, problem: od.Problem, params: dict, outputs: Outputs):
        self.solve = solve = problem.compile(method="conic")
        self.outputs = outputs

        def value(params: Params) -> tuple[jax.Array, tuple]:
            sol = solve(params)
            out = outputs(sol)
            return out, (out, sol.singular, sol.status)

        @jax.jit
        def run(params: Params):
            reverse, (out, singular, status) = jax.jacrev(value, has_aux=True)(params)
            forward = jax.jacfwd(lambda p: value(p)[0])(params)
            return out, reverse, forward, singular, status

        self.run = run
        self.evaluate(params)

    def evaluate(self, params: dict) -> Differentiated:
        """Solve and differentiate at ``params`` (the same compiled program); returns self."""
        self.params = {k: jnp.asarray(v, jnp.float64) for k, v in params.items()}
        self.out, self.reverse, self.forward, self.singular, status = self.run(self.params)
        assert int(status) == SOLVED
        return self

    def at(self, name: str, shift: np.ndarray) -> np.ndarray:
        """The outputs with parameter ``name`` shifted by ``shift``."""
        return np.asarray(self.run({**self.params, name: self.params[name] + shift})[0])

    def directional(self, name: str, direction: np.ndarray) -> np.ndarray:
        """The derivative along ``direction`` in ``name``, forward and reverse checked equal."""
        axes = direction.ndim
        forward = np.tensordot(np.asarray(self.forward[name]), direction, axes=axes)
        reverse = np.tensordot(np.asarray(self.reverse[name]), direction, axes=axes)
        np.testing.assert_allclose(forward, reverse, atol=1e-9 * max(1.0, np.abs(forward).max()), err_msg=name)
        return forward

    def check_finite(self) -> None:
        for name in self.params:
            assert np.isfinite(np.asarray(self.reverse[name])).all(), f"grad w.r.t. {name} not finite"
            assert np.isfinite(np.asarray(self.forward[name])).all(), f"jacfwd w.r.t. {name} not finite"
            self.directional(name, np.ones(np.shape(self.params[name])))

    def check_fd(self, name: str, direction: np.ndarray, rows: slice | np.ndarray = slice(None)) -> None:
        """Central differences along ``direction`` match the derivative (on the output entries ``rows``)."""
        fd = (self.at(name, H * direction) - self.at(name, -H * direction)) / (2 * H)
        analytic = self.directional(name, direction)
        fd, analytic = fd[rows], analytic[rows]
        assert np.abs(analytic - fd).max() <= FD_TOL * max(1.0, np.abs(fd).max()), (name, analytic, fd)


def values_and_objective(*names: str) -> Outputs:
    return lambda sol: jnp.concatenate([*(jnp.ravel(sol[name]) for name in names), sol.objective[None]])


def random_directions(model: Differentiated, seed: int, count: int = 2):
    rng = np.random.default_rng(seed)
    for name, value in model.params.items():
        for _ in range(count):
            yield name, rng.normal(size=np.shape(value))


# --------------------------------------------------------------------------- an SDP; a free direction

A1 = np.array([[1.0, 0, 1], [0, 3, 7], [1, 7, 5]])
A2 = np.array([[0.0, 2, 8], [2, 6, 0], [8, 0, 4]])
C0 = np.array([[1.0, 2, 3], [2, 9, 0], [3, 0, 7]])


def sdp(symmetric_x: bool) -> Differentiated:
    """``min trace(C X) s.t. X >> 0, trace(A1 X) = 11, trace(A2 X) = 19`` (cvxpy's sdp_2 data), X 3x3.

    ``X >> 0`` makes X symmetric, so the model is regular and ``trace(C X)`` only sees the
    symmetric part of C; adding ``X == X.T`` repeats those equalities (dependent rows, duals
    not unique), which makes the Jacobian singular.
    """
    X, C = od.Variable((3, 3), name="X"), od.Parameter((3, 3), name="C")
    constraints = [X >> 0, od.trace(A1 @ X) == 11, od.trace(A2 @ X) == 19] + ([X == X.T] if symmetric_x else [])
    problem = od.Problem(od.Minimize(od.trace(C @ X)), constraints)
    return Differentiated(problem, {"C": C0}, values_and_objective("X"))


@pytest.fixture(scope="module")
def sdp_plain():
    return sdp(symmetric_x=False)


@pytest.fixture(scope="module")
def sdp_symmetric():
    return sdp(symmetric_x=True)


def test_sdp_is_regular_and_matches_differences(sdp_plain):
    sdp_plain.check_finite()
    assert not bool(sdp_plain.singular)
    X = sdp_plain.out[:9].reshape(3, 3)
    np.testing.assert_allclose(sdp_plain.reverse["C"][-1], X, atol=1e-8)  # envelope theorem: d value / dC = X*
    for name, direction in random_directions(sdp_plain, 0):
        sdp_plain.check_fd(name, direction)


def test_sdp_with_x_symmetric_twice_is_flagged_finite_and_matches_differences(sdp_symmetric, sdp_plain):
    sdp_symmetric.check_finite()
    assert bool(sdp_symmetric.singular)
    np.testing.assert_allclose(sdp_symmetric.out, sdp_plain.out, atol=1e-8)
    for name, direction in random_directions(sdp_symmetric, 1):
        sdp_symmetric.check_fd(name, direction)


@pytest.fixture(scope="module")
def rank_deficient():
    """``min |A x - b|^2`` with a dependent column of the (constant) A: x* moves freely along the null space of A."""
    A0 = np.random.default_rng(8).normal(size=(6, 2))
    A0 = np.column_stack([A0, A0 @ [1.0, -2.0]])
    x, b = od.Variable(3, name="x"), od.Parameter(6, name="b")
    problem = od.Problem(od.Minimize(od.sum_squares(A0 @ x - b)))
    outputs = lambda sol: jnp.concatenate([A0 @ sol["x"], sol.objective[None]])  # noqa: E731
    return Differentiated(problem, {"b": np.random.default_rng(9).normal(size=6)}, outputs), A0


def test_a_free_direction_is_flagged_and_the_fit_is_differentiated(rank_deficient):
    """The fit ``A x*`` (the projection of b onto the range of A) and the value are unique and smooth in b."""
    model, A = rank_deficient
    model.check_finite()
    assert bool(model.singular)
    projector = A @ np.linalg.pinv(A)
    np.testing.assert_allclose(model.forward["b"][:6], projector, atol=1e-8)
    for name, direction in random_directions(model, 10):
        model.check_fd(name, direction)


# --------------------------------------------------------------------------- a degenerate vertex of an LP

@pytest.fixture(scope="module")
def lp():
    """``min c'x s.t. x1 + x2 <= b, x1 <= 1, x >= 0``: at b = 1 three constraints meet at the vertex (1, 0)."""
    x, c, b = od.Variable(2, name="x"), od.Parameter(2, name="c"), od.Parameter(name="b")
    problem = od.Problem(od.Minimize(c @ x), [x[0] + x[1] <= b, x[0] <= 1, x >= 0])
    return Differentiated(problem, {"c": [-1.0, -0.5], "b": 1.0}, values_and_objective("x"))


def test_lp_at_a_degenerate_vertex(lp):
    """The duals are not unique there: flagged; x* and the value are smooth in c, not in b (finite only)."""
    lp.check_finite()
    assert bool(lp.singular)
    np.testing.assert_allclose(lp.out[:2], [1.0, 0.0], atol=1e-8)
    np.testing.assert_allclose(lp.forward["c"][:2], 0.0, atol=1e-8)  # the vertex stays optimal
    np.testing.assert_allclose(lp.forward["c"][2], [1.0, 0.0], atol=1e-8)  # d value / dc = x*
    for name, direction in random_directions(lp, 2):
        if name == "c":
            lp.check_fd(name, direction)


def test_a_batch_pays_least_squares_only_where_singular_and_agrees_with_single_solves(lp):
    c = jnp.array([-1.0, -0.5])
    bs = jnp.array([1.0, 0.5])  # degenerate, then an ordinary vertex (0.5, 0)

    def loss(c, b):
        sol = lp.solve(c=c, b=b)
        return jnp.sum(lp.outputs(sol) * jnp.array([1.0, 2.0, 3.0])), sol.singular

    grads, flags = jax.jit(jax.vmap(jax.grad(loss, argnums=(0, 1), has_aux=True), in_axes=(None, 0)))(c, bs)
    assert np.asarray(flags).tolist() == [True, False]
    assert all(np.isfinite(np.asarray(g)).all() for g in grads)
    weights = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(grads[0][0], weights @ np.asarray(lp.reverse["c"]), atol=1e-8)
    # at b = 0.5: x* = (b, 0), value = -b: d loss / dc = 3 x*, d loss / db = 1 - 3
    np.testing.assert_allclose(grads[0][1], [1.5, 0.0], atol=1e-8)
    np.testing.assert_allclose(grads[1][1], -2.0, atol=1e-8)


# --------------------------------------------------------------------------- kinks: norm1, norm2 at zero

@pytest.fixture(scope="module")
def lasso():
    rng = np.random.default_rng(3)
    x, A, b = od.Variable(5, name="x"), od.Parameter((8, 5), name="A"), od.Parameter(8, name="b")
    lam = od.Parameter(nonneg=True, name="lam")
    problem = od.Problem(od.Minimize(od.sum_squares(A @ x - b) + lam * od.norm1(x)))
    return Differentiated(problem, {"A": rng.normal(size=(8, 5)), "b": rng.normal(size=8), "lam": 3.0},
                          values_and_objective("x"))


def test_lasso_zero_entries_have_zero_derivatives(lasso):
    """Strictly inside its subdifferential a zero entry stays zero: the natural derivative there is zero."""
    lasso.check_finite()
    assert not bool(lasso.singular)
    zero = np.abs(lasso.out[:5]) < 1e-8
    assert 0 < zero.sum() < 5
    for name in lasso.params:
        np.testing.assert_allclose(np.asarray(lasso.forward[name])[:5][zero], 0.0, atol=1e-9)
    for name, direction in random_directions(lasso, 4):
        lasso.check_fd(name, direction)


@pytest.fixture(scope="module")
def group_lasso():
    x, a, lam = od.Variable(3, name="x"), od.Parameter(3, name="a"), od.Parameter(nonneg=True, name="lam")
    problem = od.Problem(od.Minimize(od.sum_squares(x - a) + lam * od.norm2(x)))
    return Differentiated(problem, {"a": [0.1, -0.2, 0.3], "lam": 2.0}, values_and_objective("x"))


def test_norm2_at_zero(group_lasso):
    """``x* = 0`` while ``2 |a| < lam``: zero derivative of x*, value |a|^2 with gradient 2a."""
    group_lasso.check_finite()
    np.testing.assert_allclose(group_lasso.out[:3], 0.0, atol=1e-8)
    for name in group_lasso.params:
        np.testing.assert_allclose(np.asarray(group_lasso.forward[name])[:3], 0.0, atol=1e-9)
    np.testing.assert_allclose(group_lasso.forward["a"][3], [0.2, -0.4, 0.6], atol=1e-8)
    for name, direction in random_directions(group_lasso, 5):
        group_lasso.check_fd(name, direction)


@pytest.fixture(scope="module")
def consistent_norm2():
    rng = np.random.default_rng(4)
    A0, x0 = rng.normal(size=(5, 3)), rng.normal(size=3)
    x, A, b = od.Variable(3, name="x"), od.Parameter((5, 3), name="A"), od.Parameter(5, name="b")
    problem = od.Problem(od.Minimize(od.norm2(A @ x - b)))
    return Differentiated(problem, {"A": A0, "b": A0 @ x0}, values_and_objective("x"))


def test_norm2_of_a_consistent_tall_system(consistent_norm2):
    """``min |A x - b|`` with ``b = A x0``: the norm at its kink, its dual not unique -- flagged.

    x* = pinv(A) b for every b, but off the range of A the cone program's dual jumps; along
    the range the least-squares derivative is the exact pinv(A) d.
    """
    model = consistent_norm2
    model.check_finite()
    assert bool(model.singular)
    A = np.asarray(model.params["A"])
    rng = np.random.default_rng(6)
    for _ in range(2):
        direction = A @ rng.normal(size=3)
        model.check_fd("b", direction, rows=slice(0, 3))
        np.testing.assert_allclose(model.directional("b", direction)[:3], np.linalg.pinv(A) @ direction, atol=1e-8)


# --------------------------------------------------------------------------- dependent equality rows

@pytest.fixture(scope="module")
def duplicated_rows():
    x, a, b = od.Variable(3, name="x"), od.Parameter(3, name="a"), od.Parameter(name="b")
    problem = od.Problem(od.Minimize(od.sum_squares(x - a)),
                         [od.sum(x) == b, od.sum(x) == b, x[0] == x[1], 2 * x[0] == 2 * x[1]])
    return Differentiated(problem, {"a": [1.0, 2.0, 3.0], "b": 1.0}, values_and_objective("x"))


def test_duplicated_equality_rows(duplicated_rows):
    """The projection of a onto {sum x = b, x0 = x1}: its derivatives in closed form, and central differences."""
    model = duplicated_rows
    model.check_finite()
    assert bool(model.singular)
    N = np.array([[1.0, 1, 1], [1, -1, 0]])  # the independent rows
    P = np.eye(3) - np.linalg.pinv(N) @ N
    np.testing.assert_allclose(model.forward["a"][:3], P, atol=1e-8)
    np.testing.assert_allclose(model.forward["b"][:3], np.linalg.pinv(N) @ [1.0, 0.0], atol=1e-8)
    for name, direction in random_directions(model, 7):
        model.check_fd(name, direction)


# --------------------------------------------------------------------------- a power-cone tower

@pytest.fixture(scope="module")
def power():
    """``min x + c y s.t. |y| <= x^0.9, x <= 1``: an interior optimum for c = 1, the tower's apex for c = 0."""
    x, y, c = od.Variable(name="x"), od.Variable(name="y"), od.Parameter(name="c")
    problem = od.Problem(od.Minimize(x + c * y), [od.abs(y) <= od.power(x, 0.9), x <= 1])
    return Differentiated(problem, {"c": 1.0}, values_and_objective("x", "y"))


def test_power_cone_tower(power):
    """At c = 1: regular, x* = 0.9^10, derivatives match differences. At c = 0 the optimum is the apex
    x = y = 0 of every cone in the tower: flagged, finite, and the value's gradient (y* = 0) is exact."""
    power.evaluate({"c": 1.0}).check_finite()
    assert not bool(power.singular)
    np.testing.assert_allclose(power.out[:2], [0.9 ** 10, -(0.9 ** 9)], atol=1e-8)
    power.check_fd("c", np.array(1.0))
    power.evaluate({"c": 0.0}).check_finite()
    assert bool(power.singular)
    np.testing.assert_allclose(power.out, 0.0, atol=1e-8)
    power.check_fd("c", np.array(1.0), rows=slice(2, 3))
