"""A batch of small QPs gives every instance its own answer, lock-step as instance by instance.

``per_instance`` runs a vmapped solver either as a loop over the instances or as one
lock-step batch (small instances on a CPU, :data:`~optdsl.runtime.solvers.base.LOCKSTEP_MAX_SIZE`).
A batch of mixed QPs -- random ones, a badly scaled one, a degenerate one (a weakly
active constraint, whose derivative is the least-squares one), an LP and an infeasible
one -- is solved and differentiated in both modes. In each mode the batch gives every
instance exactly what that instance gives alone (status, iterations, solution, gradient:
the instances that stop first are not changed by the steps the others still take); the two
modes agree with each other to rounding, and the solutions match cvxpy + Clarabel (the
degenerate instance its closed form). Batched and single-instance kernels round differently,
so an instance that converges slowly (the degenerate one) may stop one iteration apart in the
two modes; the others stop at the same iteration.
"""

from __future__ import annotations

from unittest import mock

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import optdsl as od
from optdsl.runtime.solvers import base
from optdsl.runtime.solvers.base import per_instance
from optdsl.runtime.solvers.interior_point import solve_qp
from optdsl.runtime.status import INFEASIBLE, SOLVED

N, M, P = 4, 8, 1
#: Thresholds that force each execution mode of per_instance.
MODES = {"loop": -1, "lockstep": 10**9}
CLARABEL = {"solver": "CLARABEL", "tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}


def _random(rng: np.random.Generator, scale: float = 1.0) -> dict[str, np.ndarray]:
    """A feasible random QP: Q = LL'/n + I, h = G x0 + U(0, 1), b = A x0; ``scale`` multiplies all the data."""
    L, G, A, x0 = rng.normal(size=(N, N)), rng.normal(size=(M, N)), rng.normal(size=(P, N)), rng.normal(size=N)
    d = {"Q": L @ L.T / N + np.eye(N), "q": 3 * rng.normal(size=N), "A": A, "b": A @ x0, "G": G,
         "h": G @ x0 + rng.random(M)}
    return {key: scale * v for key, v in d.items()}


def _degenerate(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``min |x - c|^2 / 2`` with ``c`` on the first constraint's bound: that constraint is weakly active."""
    d = _random(rng)
    c = rng.normal(size=N)
    d["h"][0] = d["G"][0] @ c
    d["h"][1:] = d["G"][1:] @ c + 1 + rng.random(M - 1)
    d.update(Q=np.eye(N), q=-c, b=d["A"] @ c)
    return d


def _lp(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``min q'x`` over a box ``|x_i| <= 1`` (its vertex the solution), one equality through the box."""
    d = _random(rng)
    d.update(Q=np.zeros((N, N)), G=np.vstack([np.eye(N), -np.eye(N)]), h=np.ones(M), b=np.zeros(P))
    return d


def _infeasible(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``x_0 <= -1`` and ``x_0 >= 1``."""
    d = _random(rng)
    d["G"][:2] = 0
    d["G"][0, 0], d["G"][1, 0] = 1, -1
    d["h"][:2] = -1
    return d


def _batch() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    parts = [_random(rng) for _ in range(4)] + [_random(rng, 1e3), _degenerate(rng), _lp(rng), _infeasible(rng)]
    return {key: np.stack([d[key] for d in parts]) for key in parts[0]}


DATA = _batch()
WEIGHTS = np.random.default_rng(8).normal(size=(len(DATA["q"]), N))
SOLVED_ROWS = [0, 1, 2, 3, 4, 5, 6]
DEGENERATE = 5


def _loss(q, h, d, w):
    point, aux = solve_qp(d["Q"], q, d["A"], d["b"], d["G"], h)
    return w @ point.x, (point.x, aux.status, aux.iterations, aux.singular)


def _batched(q, h, d, w):
    value, aux = jax.vmap(_loss)(q, h, d, w)
    return jnp.sum(value), aux


_program = jax.value_and_grad(_batched, argnums=(0, 1), has_aux=True)


def _solve(f, rows: list[int]) -> tuple:
    """``(x, status, iterations, singular), (dq, dh)`` of the instances ``rows`` solved as one batch by ``f``."""
    d = {key: jnp.asarray(v[rows]) for key, v in DATA.items()}
    (_, aux), grad = f(d["q"], d["h"], d, jnp.asarray(WEIGHTS[rows]))
    return jax.tree_util.tree_map(np.asarray, (aux, grad))


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, tuple]]:
    """Per mode: the whole batch, and each instance as a batch of its own (stacked)."""
    out = {}
    for mode, threshold in MODES.items():
        with mock.patch.object(base, "LOCKSTEP_MAX_SIZE", threshold):
            f = jax.jit(_program)
            alone = [_solve(f, [i]) for i in range(len(DATA["q"]))]
            out[mode] = {"batch": _solve(f, list(range(len(DATA["q"])))),
                         "alone": jax.tree_util.tree_map(lambda *leaves: np.concatenate(leaves), *alone)}
    return out


def test_the_batch_mixes_solved_degenerate_and_infeasible_instances(results):
    (x, status, iterations, singular), _ = results["loop"]["batch"]
    np.testing.assert_array_equal(status, [SOLVED] * 7 + [INFEASIBLE])
    assert singular[DEGENERATE] and not singular[:DEGENERATE].any()
    assert len(set(iterations.tolist())) > 2  # the instances stop at different iterations
    np.testing.assert_allclose(x[DEGENERATE], -DATA["q"][DEGENERATE], rtol=1e-7, atol=1e-7)  # x* = c
    for i in set(SOLVED_ROWS) - {DEGENERATE}:
        x_ref = cp.Variable(N)
        d = {key: v[i] for key, v in DATA.items()}
        cp.Problem(cp.Minimize(0.5 * cp.quad_form(x_ref, cp.psd_wrap(d["Q"])) + d["q"] @ x_ref),
                   [d["G"] @ x_ref <= d["h"], d["A"] @ x_ref == d["b"]]).solve(**CLARABEL)
        np.testing.assert_allclose(x[i], x_ref.value, atol=1e-6 * max(1, np.abs(x_ref.value).max()))


@pytest.mark.parametrize("mode", list(MODES))
def test_a_batch_gives_each_instance_what_it_gives_alone(results, mode):
    (x, status, iterations, singular), (dq, dh) = results[mode]["batch"]
    (x1, status1, iterations1, singular1), (dq1, dh1) = results[mode]["alone"]
    np.testing.assert_array_equal(status, status1)
    np.testing.assert_array_equal(iterations, iterations1)
    np.testing.assert_array_equal(singular, singular1)
    rows = SOLVED_ROWS
    assert np.all(np.isfinite(dq[rows])) and np.all(np.isfinite(dh[rows]))
    for got, want in ((x, x1), (dq, dq1), (dh, dh1)):
        np.testing.assert_allclose(got[rows], want[rows], rtol=1e-12, atol=1e-12)


def test_the_two_modes_agree(results):
    (x, status, iterations, singular), (dq, dh) = results["lockstep"]["batch"]
    (x1, status1, iterations1, singular1), (dq1, dh1) = results["loop"]["batch"]
    np.testing.assert_array_equal(status, status1)
    np.testing.assert_array_equal(singular, singular1)
    regular = [i for i in range(len(status)) if i != DEGENERATE]
    np.testing.assert_array_equal(iterations[regular], iterations1[regular])
    assert abs(int(iterations[DEGENERATE]) - int(iterations1[DEGENERATE])) <= 1
    rows = SOLVED_ROWS
    np.testing.assert_allclose(x[rows], x1[rows], rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(dq[rows], dq1[rows], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dh[rows], dh1[rows], rtol=1e-6, atol=1e-8)


def test_a_compiled_model_batch_runs_lockstep_with_per_instance_statuses():
    """The KKT route of a small QP model under vmap (lock-step): each instance's status, iterations and solution are
    those of the instance as a batch of its own."""
    x = od.Variable(N, name="x")
    Q, q = od.Parameter((N, N), name="Q"), od.Parameter(N, name="q")
    G, h = od.Parameter((M, N), name="G"), od.Parameter(M, name="h")
    A, b = od.Parameter((P, N), name="A"), od.Parameter(P, name="b")
    solve = jax.jit(jax.vmap(od.Problem(od.Minimize(0.5 * od.quad_form(x, Q) + q @ x),
                                        [G @ x <= h, A @ x == b]).compile()))
    assert N + M + P <= base.LOCKSTEP_MAX_SIZE
    params = {key: jnp.asarray(v) for key, v in DATA.items()}
    batch = solve(params)
    np.testing.assert_array_equal(batch.status, [SOLVED] * 7 + [INFEASIBLE])
    for i in range(len(DATA["q"])):
        single = solve({key: v[i:i + 1] for key, v in params.items()})
        assert int(batch.status[i]) == int(single.status[0])
        # The degenerate instance stops on rounding, which the batched and the single linear algebra round apart.
        assert abs(int(batch.iterations[i]) - int(single.iterations[0])) <= (i == DEGENERATE)
        if i in SOLVED_ROWS:  # the degenerate instance is accurate to about sqrt(eps), so it is compared to that
            np.testing.assert_allclose(batch["x"][i], single["x"][0], rtol=1e-7 if i == DEGENERATE else 1e-12,
                                       atol=1e-7 if i == DEGENERATE else 1e-12)


def test_per_instance_runs_a_batch_lockstep_up_to_the_size_threshold():
    """With ``size`` at most LOCKSTEP_MAX_SIZE the vmapped loop is one batched loop (a batched predicate), above
    it a loop over the instances; both give each instance its own step count."""
    def doublings(x):
        return lax.while_loop(lambda v: v[0] < 50.0, lambda v: (2 * v[0], v[1] + 1), (x, jnp.zeros((), jnp.int32)))

    xs = jnp.asarray([1.0, 3.0, 0.01, 100.0, 7.0, 0.5, 2.0, 40.0])
    expected = np.asarray([int(doublings(x)[1]) for x in xs])
    for size, batched in ((base.LOCKSTEP_MAX_SIZE, True), (base.LOCKSTEP_MAX_SIZE + 1, False)):
        f = jax.jit(jax.vmap(per_instance(doublings, size=size)))
        np.testing.assert_array_equal(f(xs)[1], expected)
        assert ("pred[8]" in f.lower(xs).compile().as_text()) == batched


def _cone_programs() -> tuple[object, dict[str, jax.Array]]:
    """Markowitz SOCPs with 5 assets in conic form, ``(A, b, c)`` per instance: four with their own expected
    returns, the last with a risk bound no portfolio meets (infeasible)."""
    from benchmarks.markowitz import make_data
    from optdsl.compiler.conic import canonicalize

    raw = make_data(5, 5)
    w = od.Variable(5, name="w")
    mu, L, sigma = od.Parameter(5, name="mu"), od.Parameter((5, 5), name="L"), od.Parameter(nonneg=True, name="sigma")
    form = canonicalize(od.Problem(od.Maximize(mu @ w), [od.sum(w) == 1, w >= 0, od.norm2(L.T @ w) <= sigma]))
    sigmas = jnp.asarray([0.15] * 4 + [1e-3])
    A, b, c, _ = jax.vmap(lambda mu, s: form.data({"mu": mu, "L": jnp.asarray(raw["L"]), "sigma": s}))(
        jnp.asarray(raw["mu"]), sigmas)
    return form.cones, {"A": A, "b": b, "c": c}


def test_a_batch_of_cone_programs_gives_each_instance_its_answer_lockstep_and_one_by_one():
    """The conic interior point under ``vmap``, lock-step and instance by instance: each instance's status,
    iterations, solution and gradient are those it gets alone, in both modes, and the modes agree."""
    from optdsl.runtime.solvers.conic_diff import solve_conic_diff
    from optdsl.runtime.solvers.conic_ip import iteration

    cones, data = _cone_programs()
    weights = jnp.asarray(np.random.default_rng(2).normal(size=data["c"].shape))

    def loss(c, d, w):
        point, info = jax.vmap(lambda A, b, c: solve_conic_diff(A, b, c, cones))(d["A"], d["b"], c)
        return jnp.sum(w * point.x), (point.x, info.status, info.iterations)

    out = {}
    for mode, threshold in MODES.items():
        with mock.patch.object(iteration, "LOCKSTEP_MAX_SIZE", threshold):
            f = jax.jit(jax.value_and_grad(loss, has_aux=True))

            def run(rows):
                d = {key: v[rows] for key, v in data.items()}
                (_, aux), grad = f(d["c"], d, weights[rows])
                return jax.tree_util.tree_map(np.asarray, (aux, grad))

            batch = run(np.arange(5))
            alone = jax.tree_util.tree_map(lambda *leaves: np.concatenate(leaves), *[run(np.array([i]))
                                                                                    for i in range(5)])
            out[mode] = batch
            np.testing.assert_array_equal(batch[0][1], [SOLVED] * 4 + [INFEASIBLE])
            np.testing.assert_array_equal(batch[0][1:], alone[0][1:])
            np.testing.assert_allclose(batch[0][0][:4], alone[0][0][:4], rtol=1e-10, atol=1e-10)
            np.testing.assert_allclose(batch[1][:4], alone[1][:4], rtol=1e-8, atol=1e-8)
    (x, status, _), grad = out["loop"]
    (x1, status1, _), grad1 = out["lockstep"]
    np.testing.assert_array_equal(status, status1)
    np.testing.assert_allclose(x[:4], x1[:4], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(grad[:4], grad1[:4], rtol=1e-7, atol=1e-7)
    assert np.all(grad[4] == 0) and np.all(grad1[4] == 0)  # no information from a certificate
