"""Warm starts of the interior points: re-solving from the solution at nearby data takes fewer iterations.

Each case solves at ``θ0``, then at ``θ1`` (``θ0`` perturbed) both cold and from the
``θ0`` solution; batches go through one ``jit(vmap(...))`` per solver and shape.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optdsl.runtime import status
from optdsl.runtime.solvers.interior_point import KKTPoint, qp_interior_point

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
