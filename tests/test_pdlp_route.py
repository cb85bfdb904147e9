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
from optdsl.compiler.analyze import analyze
from optdsl.compiler.lowerings.kkt import PDLP_MIN_SIZE, kkt_system
from optdsl.compiler.lowerings.kkt_pdlp import bounds
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


def test_bounds_of_every_form_are_kept_as_bounds_with_their_duals():
    x, Y = od.Variable(6, name="x"), od.Variable((3, 2), name="Y")
    a, B, l, u = (od.Parameter(s, name=k) for k, s in (("a", 6), ("B", (3, 2)), ("l", 6), ("u", 3)))
    constraints = {"x_low": x >= l, "x_up": x[2:5] <= u, "col": Y[:, 0] >= 0.5, "Y_up": Y <= 3,
                   "again": x[0] >= -1, "twice": x[[1, 1]] <= 4, "row": od.sum(x) + od.sum(Y) <= 10,
                   "eq": x[5] == Y[2, 1]}
    problem = od.Problem(od.Minimize(od.sum_squares(x - a) + od.sum_squares(Y - B)),
                         [c.named(k) for k, c in constraints.items()])
    system = kkt_system(analyze(problem))
    kept = {system.inequalities[i].name for i in bounds(system)}
    assert kept == {"x_low", "x_up", "col", "Y_up"}
    rng = np.random.default_rng(8)
    params = {"a": rng.normal(size=(3, 6)) + 1.5, "B": rng.normal(size=(3, 3, 2)) + 1,
              "l": rng.uniform(-0.5, 0, (3, 6)), "u": rng.uniform(0.2, 0.6, (3, 3))}
    params = {k: jnp.asarray(v) for k, v in params.items()}
    out = {}
    for solver, tol in (("pdlp", 1e-10), ("interior_point", None)):
        compiled = problem.compile(solver=solver, tol=tol)

        def loss(p):
            sol = compiled(**p)
            return jnp.sum(sol.values["x"] ** 2) + sum(jnp.sum(jnp.sin(d)) for d in sol.duals.values()), sol

        out[solver] = jax.jit(jax.vmap(jax.value_and_grad(loss, has_aux=True)))(params)
    ((_, sol), grad), ((_, ref), ref_grad) = out["pdlp"], out["interior_point"]
    assert np.all(np.asarray(sol.status) == SOLVED) and np.all(np.asarray(ref.status) == SOLVED)
    for k in ref.values:
        np.testing.assert_allclose(sol.values[k], ref.values[k], atol=1e-7)
    for k in ref.duals:
        np.testing.assert_allclose(sol.duals[k], ref.duals[k], atol=1e-6, err_msg=k)
    for k in ("x_low", "x_up", "col", "row"):  # every kind of bound, and the row, active somewhere
        assert np.any(np.asarray(ref.duals[k]) > 1e-3), k
    for k in ref_grad:
        np.testing.assert_allclose(grad[k], ref_grad[k], atol=1e-5, err_msg=k)


def test_a_degenerate_vertex_is_flagged_singular_like_the_interior_point():
    x, c, u = od.Variable(2, name="x", nonneg=True), od.Parameter(2, name="c"), od.Parameter(name="u")
    problem = od.Problem(od.Minimize(c @ x), [od.sum(x) >= 1, x[0] <= u])  # at u = 1, three bounds hold at (1, 0)
    for solver in ("pdlp", "interior_point"):
        compiled = problem.compile(solver=solver)
        sol = jax.jit(jax.vmap(lambda u: compiled(c=jnp.array([1.0, 2.0]), u=u)))(jnp.array([1.0, 2.0]))
        assert np.all(np.asarray(sol.status) == SOLVED), solver
        np.testing.assert_allclose(sol.x, [[1.0, 0.0]] * 2, atol=1e-8)
        assert np.asarray(sol.singular).tolist() == [True, False], solver
