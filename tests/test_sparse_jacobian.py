"""The Jacobian of affine expressions built from its non-zeros, against ``jax.jacfwd`` of their values.

Random affine expressions over a vector and a matrix variable, built from every affine node (indexing,
reshape, transpose, stacking, diag, trace, sums, cumsum, broadcasting sums, scaling, products with
dense and sparse parameters), and a transport LP whose sums of a matrix variable give a sparse
constraint matrix, solved by PDLP with sparse data against the dense interior point.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import sparse

import optdsl as od
from optdsl.compiler.analyze import analyze
from optdsl.compiler.lowerings.kkt import kkt_system
from optdsl.compiler.lowerings.kkt_pdlp import bounds, pdlp_data
from optdsl.compiler.packing import Packing
from optdsl.compiler.sparse_jacobian import jacobian
from optdsl.runtime.status import SOLVED


class Builder:
    """Random affine expressions; parameters made on the way, with values (BCOO for products when ``sparse``)."""

    def __init__(self, rng, sparse_values):
        self.rng, self.sparse, self.values = rng, sparse_values, {}
        self.x, self.Y = od.Variable(6, name="x"), od.Variable((4, 5), name="Y")

    def param(self, shape, product=False):
        name = f"p{len(self.values)}"
        value = self.rng.standard_normal(shape) + (3.0 if not product else 0.0)
        if product and self.sparse:
            value = sparse.BCOO.fromdense(jnp.asarray(value * (self.rng.random(shape) < 0.4)))
        self.values[name] = value if product and self.sparse else jnp.asarray(value)
        return od.Parameter(shape, name=name)

    def leaf(self):
        return [self.x, self.Y, self.x[1:5], self.Y[:, 2], self.Y[[0, 3], 1:4]][self.rng.integers(5)]

    def expr(self, depth):
        e = self.leaf() if depth == 0 else self.expr(depth - 1)
        r = self.rng.integers(12)
        if e.ndim == 0:
            return e * self.param(()) + self.leaf().sum() if depth else e
        if r == 0:
            return self.param((3, e.shape[0]), product=True) @ e
        if r == 1 and e.ndim == 2:
            return e @ self.param((e.shape[1], 2), product=True)
        if r == 1:
            return e @ self.param((e.shape[0], 3), product=True)
        if r == 2:
            return e * self.param(e.shape[-1:]) - e / self.param(())
        if r == 3:
            return -(e + self.param(e.shape)) + 2.0 * e
        if r == 4:
            return e.sum(axis=int(self.rng.integers(e.ndim))) if e.ndim == 2 else e.sum() + e
        if r == 5:
            return od.cumsum(e, axis=e.ndim - 1)
        if r == 6:
            return od.reshape(e, (e.size,)) if e.ndim == 2 else od.reshape(e, (1, e.size)).T
        if r == 7:
            k = min(e.shape)
            return od.trace(e[:k, :k]) + e[0, 0] if e.ndim == 2 else od.diag(e[:3])
        if r == 8:
            return od.vstack([e, 2 * e]) if e.ndim == 2 else od.hstack([e, np.ones(2), e[:1]])
        if r == 9:
            return od.diag(e[:2, :2]) if e.ndim == 2 and min(e.shape) >= 2 else e[::-1]
        if r == 10:
            return e + self.leaf().sum() if e.ndim == 1 else e + self.x[: e.shape[1]]
        return e[1:] if e.shape[0] > 1 else e


@pytest.mark.parametrize("sparse_values", [False, True], ids=["dense", "sparse"])
def test_the_jacobian_of_random_affine_expressions_is_the_dense_one(sparse_values):
    rng = np.random.default_rng(7 + sparse_values)
    b = Builder(rng, sparse_values)
    exprs = [b.expr(int(rng.integers(1, 4))) for _ in range(36)]
    packing = Packing.of([b.x, b.Y])
    dense = {k: (v.todense() if isinstance(v, sparse.BCOO) else v) for k, v in b.values.items()}

    def rows(z):
        values = {**dense, **packing.unpack(z)}
        return jnp.concatenate([jnp.ravel(e.evaluate(values, dtype=jnp.float64)) for e in exprs])

    expected = jax.jit(jax.jacfwd(rows))(jnp.zeros(packing.size))
    each = jax.jit(lambda v: [(J.nse, J.todense()) for J in (jacobian([e], packing, v, jnp.float64) for e in exprs)])
    start = 0
    for e, (nse, got) in zip(exprs, each(b.values)):
        assert nse <= got.size, str(e)
        np.testing.assert_allclose(got, expected[start:start + got.shape[0]], atol=1e-12, err_msg=str(e))
        start += got.shape[0]


def test_the_jacobian_traces_and_keeps_a_sparse_parameter_sparse():
    rng = np.random.default_rng(3)
    x = od.Variable(200, name="x")
    S = od.Parameter((150, 200), name="S")
    dense = rng.standard_normal((150, 200)) * (rng.random((150, 200)) < 0.02)
    values = {"S": sparse.BCOO.fromdense(jnp.asarray(dense))}
    expr = od.hstack([S @ x, x[:10] - x[10:20]])
    packing = Packing.of([x])
    J = jax.jit(lambda v: jacobian([expr], packing, v, jnp.float64).bcoo())(values)
    assert J.nse == values["S"].nse + 20
    expected = np.vstack([dense, np.eye(10, 200) - np.eye(10, 200, 10)])
    np.testing.assert_allclose(J.todense(), expected, atol=0)


def transport(supply, demand):
    X = od.Variable((supply, demand), name="X", nonneg=True)
    C, s, d = od.Parameter((supply, demand), name="C"), od.Parameter(supply, name="s"), od.Parameter(demand, name="d")
    return od.Problem(od.Minimize(od.sum(od.multiply(C, X))), [od.sum(X, axis=1) <= s, od.sum(X, axis=0) == d])


def test_a_transport_lp_runs_on_sparse_data_like_the_interior_point():
    rng = np.random.default_rng(5)
    supply, demand, count = 6, 9, 3
    params = {"C": rng.uniform(1, 5, (count, supply, demand)), "s": rng.uniform(2, 3, (count, supply)),
              "d": rng.uniform(0.5, 1.2, (count, demand))}
    params = {k: jnp.asarray(v) for k, v in params.items()}
    weights = jnp.asarray(rng.standard_normal((supply, demand)))
    problem = transport(supply, demand)
    system = kkt_system(analyze(problem))
    rows = [b for i, b in enumerate(system.inequalities) if i not in bounds(system)]
    _, _, A, _, G, _ = pdlp_data(system, rows, {k: v[0] for k, v in params.items()}, jnp.float64, quadratic=False)
    assert isinstance(A, sparse.BCOO) and A.nse == supply * demand
    assert isinstance(G, sparse.BCOO) and G.nse == supply * demand
    out = {}
    for solver in ("pdlp", "interior_point"):
        compiled = problem.compile(solver=solver, tol=1e-9 if solver == "pdlp" else None)

        def loss(p):
            sol = compiled(**p)
            return jnp.sum(weights * sol.values["X"]), sol

        out[solver] = jax.jit(jax.vmap(jax.value_and_grad(loss, has_aux=True)))(params)
    ((_, sol), grad), ((_, ref), ref_grad) = out["pdlp"], out["interior_point"]
    assert np.all(np.asarray(sol.status) == SOLVED) and np.all(np.asarray(ref.status) == SOLVED)
    np.testing.assert_allclose(sol.objective, ref.objective, rtol=1e-8)
    np.testing.assert_allclose(sol.values["X"], ref.values["X"], atol=1e-6)
    for k in ref_grad:
        np.testing.assert_allclose(grad[k], ref_grad[k], atol=1e-5 * max(1.0, float(np.max(np.abs(ref_grad[k])))))


def test_the_pdlp_route_warm_starts_from_a_solution():
    rng = np.random.default_rng(6)
    params = {"C": rng.uniform(1, 5, (6, 9)), "s": rng.uniform(2, 3, 6), "d": rng.uniform(0.5, 1.2, 9)}
    compiled = transport(6, 9).compile(solver="pdlp")
    solve = jax.jit(lambda p, init=None: compiled(**p, init=init))
    first = solve(params)
    moved = dict(params, C=params["C"] * (1 + 1e-3 * rng.standard_normal((6, 9))))
    cold, warm = solve(moved), solve(moved, first)
    assert int(cold.status) == SOLVED and int(warm.status) == SOLVED
    assert int(warm.iterations) < int(cold.iterations)
    np.testing.assert_allclose(warm.values["X"], cold.values["X"], atol=1e-6)
