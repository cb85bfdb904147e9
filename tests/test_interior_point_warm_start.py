"""Warm starts of the interior points: re-solving from the solution at nearby data takes fewer iterations.

Each case solves at ``θ0``, then at ``θ1`` (``θ0`` perturbed) both cold and from the
``θ0`` solution; batches go through one ``jit(vmap(...))`` per solver and shape.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_kkt_residual import NLP, random_nlp_params

from optdsl.runtime import status
from optdsl.runtime.solvers.interior_point import KKTPoint, nlp_interior_point, qp_interior_point, solve_nlp

SEEDS = 20
N, M, P = 30, 20, 5

qp_cold = jax.jit(jax.vmap(qp_interior_point))
qp_warm = jax.jit(jax.vmap(lambda *d: qp_interior_point(*d[:6], init=d[6])))


def random_qp(rng, lp):
    """A feasible QP (``n = 30``, 20 inequalities, 5 equalities), or an LP with those rows and box bounds."""
    x0 = rng.normal(size=N)
    if lp:
        Q = np.zeros((N, N))
        G = np.vstack([rng.normal(size=(M, N)), np.eye(N), -np.eye(N)])
    else:
        L = rng.normal(size=(N, N))
        Q, G = L @ L.T / N + 0.1 * np.eye(N), rng.normal(size=(M, N))
    h = G @ x0 + rng.uniform(0.1, 2.0, size=G.shape[0])
    if lp:
        h[M:] = np.abs(h[M:]) + 3
    A = rng.normal(size=(P, N))
    q = -G[:M].T @ rng.random(M) + 0.1 * rng.normal(size=N) if lp else rng.normal(size=N)
    return Q, q, A, A @ x0, G, h


def perturbed(rng, data, rel):
    """``q`` and ``h`` perturbed by ``rel`` relative."""
    Q, q, A, b, G, h = data
    return Q, q * (1 + rel * rng.normal(size=q.shape)), A, b, G, h * (1 + rel * rng.normal(size=h.shape))


def stack(instances):
    return tuple(jnp.asarray(np.stack(arrays)) for arrays in zip(*instances))


def qp_batches(lp, rel):
    """``(first, nearby)``: stacked data at ``θ0`` and ``θ1``."""
    first, nearby = [], []
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        data = random_qp(rng, lp)
        first.append(data)
        nearby.append(perturbed(rng, data, rel))
    return stack(first), stack(nearby)


def cold_and_warm_qp(lp, rel):
    first, nearby = qp_batches(lp, rel)
    previous, aux0 = qp_cold(*first)
    assert aux0.status.tolist() == [status.SOLVED] * SEEDS
    cold, cold_aux = qp_cold(*nearby)
    warm, warm_aux = qp_warm(*nearby, previous)
    assert cold_aux.status.tolist() == [status.SOLVED] * SEEDS
    assert warm_aux.status.tolist() == [status.SOLVED] * SEEDS
    return nearby, (cold, np.asarray(cold_aux.iterations)), (warm, np.asarray(warm_aux.iterations))


def assert_fewer(cold_its, warm_its):
    assert np.median(warm_its) < np.median(cold_its), (warm_its, cold_its)
    assert np.all(warm_its <= cold_its + 1), (warm_its, cold_its)


@pytest.mark.parametrize("lp", [False, True], ids=["qp", "lp"])
def test_qp_warm_start_at_nearby_data_takes_fewer_iterations_to_the_same_solution(lp):
    data, (cold, cold_its), (warm, warm_its) = cold_and_warm_qp(lp, 1e-3)
    assert_fewer(cold_its, warm_its)
    assert np.median(warm_its) <= np.median(cold_its) / 2
    Q, q, _, _, _, _ = data
    objective = lambda x: 0.5 * jnp.einsum("bi,bij,bj->b", x, Q, x) + jnp.einsum("bi,bi->b", q, x)
    np.testing.assert_allclose(objective(warm.x), objective(cold.x), rtol=1e-8)
    np.testing.assert_allclose(warm.x, cold.x, atol=1e-5)
    if not lp:  # strictly convex: the multipliers are unique too
        np.testing.assert_allclose(warm.lam, cold.lam, atol=1e-5)
        np.testing.assert_allclose(warm.nu, cold.nu, atol=1e-5)


def test_qp_warm_start_far_away_is_not_much_worse():
    _, (_, cold_its), (_, warm_its) = cold_and_warm_qp(False, 1.0)
    assert np.mean(warm_its) <= np.mean(cold_its)
    assert np.all(warm_its <= cold_its + 2), (warm_its, cold_its)


def test_qp_warm_start_from_a_useless_point_falls_back_to_the_cold_start():
    _, nearby = qp_batches(False, 1e-3)
    rng = np.random.default_rng(0)
    junk = KKTPoint(*(jnp.asarray(1e3 * rng.normal(size=(SEEDS, k))) for k in (N, P, M)))
    cold, cold_aux = qp_cold(*nearby)
    warm, warm_aux = qp_warm(*nearby, junk)
    assert np.array_equal(warm_aux.iterations, cold_aux.iterations)
    np.testing.assert_array_equal(warm.x, cold.x)


nlp_solve = jax.jit(jax.vmap(lambda init, c: nlp_interior_point(*NLP, init, c, m=2, p=1)))


def test_nlp_warm_start_from_a_kkt_point_takes_fewer_iterations_to_the_same_solution():
    c0 = jnp.stack([random_nlp_params(seed) for seed in range(SEEDS)])
    rng = np.random.default_rng(0)
    c1 = c0 * (1 + 1e-3 * jnp.asarray(rng.normal(size=c0.shape)))
    x0 = jnp.zeros((SEEDS, 4))
    previous, aux0 = nlp_solve(x0, c0)
    cold, cold_aux = nlp_solve(x0, c1)
    warm, warm_aux = nlp_solve(previous, c1)
    for aux in (aux0, cold_aux, warm_aux):
        assert aux.status.tolist() == [status.SOLVED] * SEEDS
    cold_its, warm_its = np.asarray(cold_aux.iterations), np.asarray(warm_aux.iterations)
    assert_fewer(cold_its, warm_its)
    assert np.median(warm_its) <= np.median(cold_its) / 2
    _, x_only_aux = nlp_solve(previous.x, c1)
    assert np.median(warm_its) < np.median(np.asarray(x_only_aux.iterations))
    for a, b in zip(warm, cold):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_nlp_warm_start_with_useless_multipliers_falls_back_to_the_cold_start_from_its_x():
    c = jnp.stack([random_nlp_params(seed) for seed in range(4)])
    previous, _ = nlp_solve(jnp.zeros((4, 4)), c)
    junk = previous._replace(nu=jnp.full((4, 1), 1e3), lam=jnp.full((4, 2), 1e3))
    _, x_only_aux = nlp_solve(previous.x, c * 1.001)
    _, junk_aux = nlp_solve(junk, c * 1.001)
    np.testing.assert_array_equal(junk_aux.iterations, x_only_aux.iterations)


def test_solve_nlp_differentiates_from_a_warm_start():
    c0, c1 = random_nlp_params(0), random_nlp_params(0) * 1.001
    previous, _ = nlp_interior_point(*NLP, jnp.zeros(4), c0, m=2, p=1)
    x_sum = lambda init, c: jnp.sum(solve_nlp(*NLP, init, c, m=2, p=1)[0].x)
    grad = jax.jit(jax.grad(x_sum, argnums=1))
    np.testing.assert_allclose(grad(previous, c1), grad(jnp.zeros(4), c1), atol=1e-8)


def test_nlp_warm_start_shapes_are_checked():
    c = random_nlp_params(0)
    with pytest.raises(ValueError, match=r"init.lam must have shape \(2,\)"):
        nlp_interior_point(*NLP, KKTPoint(jnp.zeros(4), jnp.zeros(1), jnp.zeros(3)), c, m=2, p=1)
