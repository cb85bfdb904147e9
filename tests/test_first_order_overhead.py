"""Work per step of the first-order solvers: how often one step evaluates the objective and its gradient.

The objective counts its own evaluations at run time: its value (the forward pass) and its gradient (the
backward pass) each call back to the host. Every evaluation is a value with its gradient: the start
(and the secant step-size estimate), each backtracking trial, and with FISTA the extrapolated point --
unless the smooth part is declared quadratic, whose value and gradient there are combined from the last
two iterates' instead.
"""

from collections import Counter
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optdsl.runtime import status
from optdsl.runtime.solvers import mirror_descent, proximal_gradient, simplex_kl_step

CALLS: Counter = Counter()


@jax.custom_vjp
def least_squares(x, A, b):
    jax.debug.callback(lambda: CALLS.update(["value"]))
    return 0.5 * jnp.sum((A @ x - b) ** 2)


def _forward(x, A, b):
    jax.debug.callback(lambda: CALLS.update(["value"]))
    r = A @ x - b
    return 0.5 * jnp.vdot(r, r), (r, A)


def _backward(saved, ct):
    jax.debug.callback(lambda: CALLS.update(["gradient"]))
    r, A = saved
    return ct * (A.T @ r), None, None


least_squares.defvjp(_forward, _backward)


def _trial_counter(trials: Counter):
    """A step-size rule's trials, counted by the prox (or KL step), which each trial applies once."""
    def count(v):
        jax.debug.callback(lambda: trials.update(["trial"]))
        return v
    return count


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(40, 15)) * np.logspace(0, 1, 15)
    return jnp.asarray(A), jnp.asarray(A @ rng.normal(size=15) + 0.3 * rng.normal(size=40))


@pytest.mark.parametrize("acceleration,quadratic", [(True, False), (True, True), (False, False)])
def test_a_proximal_gradient_step_evaluates_each_trial_and_the_extrapolated_point_unless_quadratic(data, acceleration,
                                                                                                 quadratic):
    A, b = data
    trials: Counter = Counter()
    counted = _trial_counter(trials)

    def soft(v, lam, step):
        return counted(jnp.sign(v) * jnp.maximum(jnp.abs(v) - step * lam, 0))

    CALLS.clear()
    x, info = jax.jit(lambda lam: proximal_gradient(lambda x, lam: least_squares(x, A, b), soft, jnp.zeros(15), lam,
                                                    acceleration=acceleration, quadratic=quadratic,
                                                    maxiter=60))(0.5)
    jax.block_until_ready(x)
    k = int(info.iterations)
    # The residual applies the prox once at the start and once per step; every other application is a trial.
    step_trials = trials["trial"] - 1 - k
    failed = step_trials - k
    assert k == 60 and failed > 0
    # Start: the value and gradient at x0, and at a nearby point for the secant step-size estimate.
    at_y = k if acceleration and not quadratic else 0
    assert CALLS["gradient"] == CALLS["value"] == 2 + at_y + step_trials


def test_a_mirror_descent_step_evaluates_each_trial_once(data):
    A, b = data
    trials: Counter = Counter()
    counted = _trial_counter(trials)
    rows = jnp.asarray(np.random.default_rng(1).normal(size=(15, 30))) / 4

    def kl_step(x, g, eta):
        return counted(partial(simplex_kl_step, shape=(3, 10))(x, g, eta))

    CALLS.clear()
    x, info = jax.jit(lambda b: mirror_descent(lambda x, b: least_squares(x, rows, b), kl_step, jnp.full(30, 0.1),
                                               b, maxiter=10))(b[:15])
    jax.block_until_ready(x)
    k = int(info.iterations)
    step_trials = trials["trial"] - 1 - k
    assert k == 10 and step_trials > k
    assert CALLS["gradient"] == CALLS["value"] == 2 + step_trials


def test_a_declared_quadratic_takes_the_same_steps_and_its_unrolled_gradient_matches_finite_differences(data):
    A, b = data

    def soft(v, lam, step):
        return jnp.sign(v) * jnp.maximum(jnp.abs(v) - step * lam, 0)

    def solve(lam, quadratic, unroll=False, maxiter=5000):
        return proximal_gradient(lambda x, lam: 0.5 * jnp.sum((A @ x - b) ** 2), soft, jnp.zeros(15), lam,
                                 quadratic=quadratic, unroll=unroll, maxiter=maxiter)

    (x, info), (xq, infoq) = jax.jit(lambda lam: (solve(lam, False), solve(lam, True)))(0.5)
    assert infoq.status == info.status == status.SOLVED and abs(int(infoq.iterations) - int(info.iterations)) <= 1
    np.testing.assert_allclose(xq, x, rtol=0, atol=1e-9)

    def loss(lam):
        return jnp.sum(jnp.sin(solve(lam, True, unroll=True, maxiter=300)[0]))

    value_and_grad = jax.jit(jax.value_and_grad(loss))
    h = 1e-6
    fd = (value_and_grad(0.5 + h)[0] - value_and_grad(0.5 - h)[0]) / (2 * h)
    np.testing.assert_allclose(value_and_grad(0.5)[1], fd, rtol=1e-6)
