"""The KKT route's PDLP solver: the same Solution as the interior point's, and the size rule that picks it.

Seeded LPs and QPs (``benchmarks.scale.crossover_model``: every datum a parameter, ``x >= 0``) built around a
unique, strictly complementary solution are compiled with ``solver="pdlp"`` and ``solver="interior_point"``;
one vmapped program per route and family gives every instance's values, duals and the gradient of a
weighted loss of them in all parameters.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optdsl as od
from benchmarks.scale import crossover_model, instance, structure
from optdsl.compiler.lowerings.kkt import PDLP_MIN_SIZE
from optdsl.errors import CompileError
from optdsl.runtime.status import SOLVED


def family(seed, n, p, m, qp, count=2):
    rng = np.random.default_rng(seed)
    s = structure(rng, n, p, m, qp)
    s["lower"], s["upper"] = np.zeros(n), np.full(n, np.inf)
    insts = [instance(rng, s) for _ in range(count)]
    params = {"c": np.stack([i["c"] for i in insts]), "b": np.stack([i["b"] for i in insts]),
              "h": np.stack([i["h"] for i in insts]), "A": np.stack([s["A"].toarray()] * count),
              "G": np.stack([s["G"].toarray()] * count)}
    if qp:
        params["P"] = np.stack([s["P"].toarray()] * count)
    weights = {"x": rng.standard_normal(n), "eq": rng.standard_normal(p), "ineq": rng.standard_normal(m)}
    problem = crossover_model(n, p, m, qp)
    out = {}
    for solver, tol in (("pdlp", 1e-10), ("interior_point", None)):
        compiled = problem.compile(solver=solver, tol=tol)

        def loss(params):
            sol = compiled(**params)
            eq, ineq = (sol.duals[k] for k in sorted(sol.duals)[:2])
            return weights["x"] @ sol.x + weights["eq"] @ eq + weights["ineq"] @ ineq, sol

        (_, sol), grad = jax.jit(jax.vmap(jax.value_and_grad(loss, has_aux=True)))(
            {k: jnp.asarray(v) for k, v in params.items()})
        out[solver] = (sol, grad, compiled)
    return out, insts


@pytest.fixture(scope="module")
def lp():
    return family(0, 30, 3, 18, qp=False)


@pytest.fixture(scope="module")
def qp():
    return family(1, 24, 2, 12, qp=True)


@pytest.mark.parametrize("name", ["lp", "qp"])
def test_pdlp_route_matches_interior_point(name, request):
    out, insts = request.getfixturevalue(name)
    (sol, grad, compiled), (ref, ref_grad, _) = out["pdlp"], out["interior_point"]
    assert "PDLP" in compiled.description and "MINRES" in compiled.description
    assert np.all(np.asarray(sol.status) == SOLVED) and np.all(np.asarray(ref.status) == SOLVED)
    np.testing.assert_allclose(sol.x, ref.x, atol=1e-6)
    np.testing.assert_allclose(sol.x, np.stack([i["x"] for i in insts]), atol=1e-6)
    np.testing.assert_allclose(sol.objective, ref.objective, rtol=1e-8)
    assert sorted(sol.duals) == sorted(ref.duals)
    for k in sol.duals:
        np.testing.assert_allclose(sol.duals[k], ref.duals[k], atol=1e-5)
    assert sorted(grad) == sorted(ref_grad)
    for k in grad:
        scale = max(1.0, np.max(np.abs(ref_grad[k])))
        assert np.max(np.abs(np.asarray(grad[k]) - ref_grad[k])) <= 1e-5 * scale, k


def lp_of_size(n):
    """An LP with ``n`` variables, one equality and ``n`` sign rows: KKT size ``2 n + 1``; compiled lazily."""
    x, c = od.Variable(n, name="x"), od.Parameter(n, name="c")
    return od.Problem(od.Minimize(c @ x), [od.sum(x) == 1, x >= 0])


def test_pdlp_runs_on_request_and_from_a_size():
    below, above = lp_of_size((PDLP_MIN_SIZE - 2) // 2), lp_of_size(PDLP_MIN_SIZE // 2)  # sizes 3999 and 4001
    assert "Mehrotra" in below.compile().description
    assert "PDLP" in below.compile(solver="pdlp").description
    assert "PDLP" in above.compile().description and "chosen by size" in above.compile().description
    assert "Mehrotra" in above.compile(solver="interior_point").description
    assert "Mehrotra" in above.compile(diff="smoothed").description


def test_pdlp_refuses_what_is_not_an_lp_or_qp():
    x = od.Variable(3, name="x")
    with pytest.raises(CompileError, match="solver='pdlp' runs LPs and QPs"):
        od.Problem(od.Minimize(od.sum(od.exp(x))), [x <= 1]).compile(method="kkt", solver="pdlp")
    with pytest.raises(CompileError, match="solver='pdlp' runs LPs and QPs"):
        lp_of_size(3).compile(solver="pdlp", diff="smoothed")
