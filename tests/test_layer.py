"""``od.Layer``: the cvxpylayers call convention, batching, jit, and training a tiny model with optax.

The layer projects a score vector onto the probability simplex,
``x*(z) = argmin_x 0.5 ||x - z||^2  s.t.  x >= 0, sum(x) == 1`` (a closed form by sorting),
and a linear model ``z = W f`` is trained through it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optdsl as od
from optdsl.interop.errors import InteropError
from optdsl.runtime.status import SOLVED

K, D = 3, 4


def simplex_projection(z: np.ndarray) -> np.ndarray:
    """Closed form (Held et al.): shift by the threshold found from the sorted entries."""
    u = np.sort(z)[::-1]
    cumulative = np.cumsum(u) - 1
    rho = np.nonzero(u - cumulative / np.arange(1, z.size + 1) > 0)[0][-1]
    return np.maximum(z - cumulative[rho] / (rho + 1), 0)


@pytest.fixture(scope="module")
def layer():
    x, z = od.Variable(K, name="x"), od.Parameter(K, name="z")
    problem = od.Problem(od.Minimize(0.5 * od.sum_squares(x - z)), [x >= 0, od.sum(x) == 1])
    return od.Layer(problem, parameters=[z], variables=[x], tol=1e-11)


def test_single_and_batched_calls_match_the_closed_form(layer):
    rng = np.random.default_rng(0)
    (single,) = layer(rng.normal(size=K))
    assert single.shape == (K,)
    batch = rng.normal(size=(5, K))
    (solutions,) = jax.jit(layer)(batch)
    assert solutions.shape == (5, K)
    for z, x in zip(batch, solutions):
        np.testing.assert_allclose(x, simplex_projection(z), atol=1e-6)


def test_mixed_batched_and_shared_inputs():
    x, c, s = od.Variable(2, name="x"), od.Parameter(2, name="c"), od.Parameter(nonneg=True, name="s")
    layer = od.Layer(od.Problem(od.Minimize(od.sum_squares(x - c) + s * od.sum_squares(x))), [c, s], [x])
    cs = np.arange(6.0).reshape(3, 2)
    (out,) = layer(cs, 1.0)  # c batched, s shared: x* = c / (1 + s)
    np.testing.assert_allclose(out, cs / 2, atol=1e-8)


def _data(seed: int, n: int = 16):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, D))
    W_true = 2 * rng.normal(size=(K, D))
    targets = np.stack([simplex_projection(W_true @ f) for f in features])
    return jnp.asarray(features), jnp.asarray(targets)


def _loss(layer, W, features, targets):
    (x,) = layer(features @ W.T)  # a batch of score vectors, one solve each
    return jnp.mean(jnp.sum((x - targets) ** 2, axis=1))


def test_gradient_matches_central_finite_differences(layer):
    features, targets = _data(1, n=4)
    W = jnp.asarray(np.random.default_rng(2).normal(size=(K, D)))
    grad = jax.jit(jax.grad(lambda W: _loss(layer, W, features, targets)))(W)
    loss = jax.jit(lambda W: _loss(layer, W, features, targets))
    eps = 1e-4  # the loss is piecewise quadratic: exact FD away from kinks, solver noise / eps small
    for i, j in [(0, 0), (1, 2), (2, 3)]:
        E = jnp.zeros_like(W).at[i, j].set(eps)
        fd = (loss(W + E) - loss(W - E)) / (2 * eps)
        np.testing.assert_allclose(grad[i, j], fd, rtol=1e-5, atol=1e-8)


def test_training_with_optax_under_jit_decreases_the_loss(layer):
    features, targets = _data(3)
    W = jnp.zeros((K, D))
    optimizer = optax.adam(0.1)
    state = optimizer.init(W)

    @jax.jit
    def step(W, state):
        loss, grad = jax.value_and_grad(lambda W: _loss(layer, W, features, targets))(W)
        updates, state = optimizer.update(grad, state)
        return optax.apply_updates(W, updates), state, loss

    losses = []
    for _ in range(40):
        W, state, loss = step(W, state)
        losses.append(float(loss))
    assert losses[-1] < 0.2 * losses[0]
    assert np.all(np.isfinite(losses))


def test_float32_inputs_give_float32_outputs(layer):
    (x,) = layer(jnp.asarray([0.3, -0.2, 1.1], dtype=jnp.float32))
    assert x.dtype == jnp.float32
    np.testing.assert_allclose(x, simplex_projection(np.array([0.3, -0.2, 1.1])), atol=1e-4)


def test_bad_use_is_named(layer):
    x, z = od.Variable(K, name="x"), od.Parameter(K, name="z")
    w = od.Parameter(K, name="w")
    problem = od.Problem(od.Minimize(od.sum_squares(x - z) + w @ x))
    with pytest.raises(InteropError, match=r"missing \['w'\]"):
        od.Layer(problem, parameters=[z], variables=[x])
    with pytest.raises(InteropError, match="'y', which is not in the problem"):
        od.Layer(problem, parameters=[z, w], variables=[od.Variable(K, name="y")])
    with pytest.raises(InteropError, match="expected 1 values"):
        layer(np.zeros(K), np.zeros(K))
    with pytest.raises(InteropError, match=r"'z' has shape \(3,\); got a value of shape \(2, 2\)"):
        layer(np.zeros((2, 2)))


def test_dual_variables_are_outputs(layer):
    """The multiplier of sum(x) == 1 in the simplex projection is the threshold of the closed form."""
    problem = layer.problem
    budget = problem.constraints[1]
    z = problem.parameters()[0]
    duals = od.Layer(problem, parameters=[z], variables=[budget.dual_variables[0], *problem.variables()], tol=1e-11)
    assert duals.compiled is layer.compiled  # one compilation per problem and options
    batch = np.random.default_rng(1).normal(size=(4, K))
    nu, x = duals(batch)
    assert nu.shape == (4,) and x.shape == (4, K)
    for row, multiplier, point in zip(batch, nu, x):
        np.testing.assert_allclose(point, simplex_projection(row), atol=1e-6)
        np.testing.assert_allclose(multiplier, np.max(row - point), atol=1e-6)  # z - x = nu on the support


def test_misuse_is_a_value_error_too(layer):
    problem = layer.problem
    stranger = od.sum(od.Variable(K, name="x")) == 1
    with pytest.raises(ValueError, match="dual of a constraint not in the problem") as raised:
        od.Layer(problem, parameters=problem.parameters(), variables=[stranger.dual_variables[0]])
    assert isinstance(raised.value, od.OptDSLError) and isinstance(raised.value, InteropError)
    with pytest.raises(ValueError, match=r"Invalid parameter dimensionality: parameter 'z' has shape \(3,\)"):
        layer(np.zeros((2, 2, K)))


# A box projection, x*(c, l, u) = clip(c, l, u), whose box the parameters can make empty (l > u).
# The conic route can return NaN values for such an instance, the case where masking a loss alone fails.
@pytest.fixture(scope="module", params=["projected_gradient", "conic"])
def box_layer(request):
    x = od.Variable(2, name="x")
    c, lower, upper = od.Parameter(2, name="c"), od.Parameter(2, name="l"), od.Parameter(2, name="u")
    problem = od.Problem(od.Minimize(od.sum_squares(x - c)), [x >= lower, x <= upper])
    return od.Layer(problem, parameters=[c, lower, upper], variables=[x], method=request.param)


# Instance 0: the box [0, 1]^2 with c inside on the first axis and above it on the second; instance 1: the same
# but l > u on the first axis (c inside on the second, where an unmasked derivative would be 1).
C = np.array([[0.5, 2.0], [0.5, 0.5]])
L = np.array([[0.0, 0.0], [1.0, 0.0]])
U = np.array([[1.0, 1.0], [0.0, 1.0]])
TARGET = np.array([0.2, 0.3])


def test_the_status_of_each_instance_of_a_batch(box_layer):
    (xs,), solution = jax.jit(lambda *v: box_layer(*v, return_solution=True))(C, L, U)
    assert solution.status.shape == (2,) and solution.status.dtype == jnp.int32
    names = od.Layer.status_names(solution.status)
    assert names[0] == "solved" and names[1] != "solved"
    np.testing.assert_allclose(xs[0], np.clip(C[0], L[0], U[0]), atol=1e-6)
    assert od.Layer.status_names(np.asarray(SOLVED)) == "solved"
    assert od.Layer.status_names(np.full((2, 1), SOLVED)) == [["solved"], ["solved"]]


def _masked_loss(layer, c):
    """Mean squared distance to TARGET over the solved instances only."""
    (xs,), solution = layer(c, L, U, return_solution=True)
    solved = solution.status == SOLVED
    per_instance = jnp.sum((xs - TARGET) ** 2, axis=1)
    return jnp.sum(jnp.where(solved, per_instance, 0.0)) / jnp.maximum(jnp.sum(solved), 1)


def test_a_masked_loss_has_the_gradient_of_the_solved_instances(box_layer):
    grad = jax.jit(jax.grad(lambda c: _masked_loss(box_layer, c)))(jnp.asarray(C))
    # only instance 0 is solved; there dx/dc is 1 inside the box (axis 0) and 0 where c is clipped (axis 1)
    expected = np.array([[2 * (C[0, 0] - TARGET[0]), 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(grad, expected, atol=1e-6)


def test_forward_mode_derivative_of_an_unsolved_instance_is_zero(box_layer):
    jacobian = jax.jacfwd(lambda c: box_layer(c, L, U)[0])(jnp.asarray(C))  # (instance, i, instance', j)
    expected = np.zeros((2, 2, 2, 2))
    expected[0, 0, 0, 0] = 1.0
    np.testing.assert_allclose(jacobian, expected, atol=1e-6)
