"""The active-set KKT solve of PDLP on the host (sparse LU, LSMR) against a dense solve, MINRES and finite differences.

Seeded random LP (square basis) and QP active-set systems on BCOO data. ``LU_AFTER`` set to 0 sends every
system to the host (:mod:`optdsl.runtime.solvers.pdhg.host_solve`), set very large keeps MINRES;
``HOST_MAX_UNKNOWNS`` set to 0 makes the host solve by LSMR instead of the LU.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp
from jax.experimental import sparse

from optdsl.runtime.solvers.pdhg import active_set as act
from optdsl.runtime.solvers.pdhg import host_solve
from optdsl.runtime.solvers.pdhg import problem as pb

TOL = 1e-12
N, P_ROWS, M_ROWS = 40, 4, 24


def system(seed: int, qp: bool):
    """A problem, an active set and a right-hand side; the LP's free columns are as many as its active rows."""
    rng = np.random.default_rng(seed)
    A = sp.random(P_ROWS, N, density=0.3, random_state=rng, data_rvs=rng.standard_normal)
    G = sp.random(M_ROWS, N, density=0.3, random_state=rng, data_rvs=rng.standard_normal)
    P = None
    if qp:
        B = sp.random(N // 2, N, density=0.2, random_state=rng, data_rvs=rng.standard_normal)
        P = sparse.BCOO.from_scipy_sparse((B.T @ B + 0.1 * sp.eye(N)).tocsr())
    rows = np.zeros(M_ROWS, bool)
    rows[rng.choice(M_ROWS, 10, replace=False)] = True
    free = np.zeros(N, bool)
    free[rng.choice(N, P_ROWS + 10 + (12 if qp else 0), replace=False)] = True
    at_lower = ~free
    prob = pb.Problem(P, jnp.zeros(N), sparse.BCOO.from_scipy_sparse(A.tocsr()), jnp.zeros(P_ROWS),
                      sparse.BCOO.from_scipy_sparse(G.tocsr()), jnp.zeros(M_ROWS), jnp.zeros(N), jnp.full(N, jnp.inf))
    active = act.ActiveSet(jnp.asarray(at_lower), jnp.zeros(N, bool), jnp.asarray(rows))
    rhs = tuple(jnp.asarray(rng.standard_normal(k)) for k in (N, P_ROWS, M_ROWS))
    return prob, active, rhs


def dense_solve(prob, active, rhs):
    """The active-set system assembled densely and solved by numpy: ``(x, nu, lam)``, zero off the active set."""
    S, I = np.asarray(active.free), np.asarray(active.rows)
    A, G = np.asarray(prob.A.todense())[:, S], np.asarray(prob.G.todense())[I][:, S]
    P = np.zeros((S.sum(), S.sum())) if prob.P is None else np.asarray(prob.P.todense())[S][:, S]
    C = np.vstack([A, G])
    K = np.block([[P, C.T], [C, np.zeros((C.shape[0], C.shape[0]))]])
    u = np.linalg.solve(K, np.concatenate([np.asarray(rhs[0])[S], np.asarray(rhs[1]), np.asarray(rhs[2])[I]]))
    x, nu, lam = np.zeros(N), u[S.sum():S.sum() + P_ROWS], np.zeros(M_ROWS)
    x[S], lam[I] = u[:S.sum()], u[S.sum() + P_ROWS:]
    return x, nu, lam


def solve(prob, active, rhs):
    return act.solve(prob, active, rhs, jnp.asarray(TOL))


@pytest.fixture(scope="module", params=["lp", "qp"])
def case(request):
    return [system(seed, request.param == "qp") for seed in range(3)]


def _with_lu_after(monkeypatch, steps):
    monkeypatch.setattr(act, "LU_AFTER", steps)
    return jax.jit(solve)


def test_host_lu_and_lsmr_agree_with_dense_solve_and_minres(case, monkeypatch):
    on_host = _with_lu_after(monkeypatch, 0)
    lu_out = [on_host(*sys) for sys in case]
    monkeypatch.setattr(host_solve, "HOST_MAX_UNKNOWNS", 0)
    lsmr_out = [on_host(*sys) for sys in case]
    by_minres = _with_lu_after(monkeypatch, 10**9)
    for sys, by_lu, by_lsmr in zip(case, lu_out, lsmr_out):
        want = dense_solve(*sys)
        scale = max(np.max(np.abs(w)) for w in want)
        for lu, lsmr, m, w in zip(by_lu, by_lsmr, by_minres(*sys), want):
            np.testing.assert_allclose(lu, w, atol=1e-9 * scale)
            np.testing.assert_allclose(lsmr, w, atol=1e-9 * scale)
            np.testing.assert_allclose(m, w, atol=1e-6 * scale)


def test_host_lu_under_vmap_solves_each_instance(case, monkeypatch):
    prob, active, _ = case[0]
    batch = tuple(jnp.stack(parts) for parts in zip(*(sys[2] for sys in case)))
    got = jax.vmap(_with_lu_after(monkeypatch, 0), in_axes=(None, None, 0))(prob, active, batch)
    for k, sys in enumerate(case):
        for g, w in zip(got, dense_solve(prob, active, sys[2])):
            np.testing.assert_allclose(g[k], w, atol=1e-9 * np.max(np.abs(w)) + 1e-12)


def test_gradient_through_the_host_lu_matches_central_differences(monkeypatch):
    monkeypatch.setattr(act, "LU_AFTER", 0)
    prob, active, rhs = system(5, qp=False)
    w = np.random.default_rng(7).standard_normal(N)

    def loss(a_data, b):
        changed = prob._replace(A=sparse.BCOO((a_data, prob.A.indices), shape=prob.A.shape))
        return jnp.asarray(w) @ solve(changed, active, (rhs[0], b, rhs[2]))[0]

    a0, b0 = prob.A.data, rhs[1]
    rng = np.random.default_rng(8)
    da, db = jnp.asarray(rng.standard_normal((2,) + a0.shape)), jnp.asarray(rng.standard_normal((2,) + b0.shape))
    eps = 1e-6

    @jax.jit
    def measured(a, b, da, db):
        grad = jax.grad(loss, argnums=(0, 1))(a, b)
        along = jax.vmap(lambda u, v: jax.jvp(loss, (a, b), (u, v))[1])(da, db)
        grad_a = jax.vmap(jax.grad(loss), in_axes=(None, 0))(a, b + db)
        central = (jax.vmap(loss)(a + eps * da, b + eps * db) - jax.vmap(loss)(a - eps * da, b - eps * db)) / (2 * eps)
        shifted = (jax.vmap(loss)(a + eps * da, b + db) - jax.vmap(loss)(a - eps * da, b + db)) / (2 * eps)
        return grad, along, grad_a, central, shifted

    grad, along, grad_a, central, shifted = measured(a0, b0, da, db)
    np.testing.assert_allclose(da @ grad[0] + db @ grad[1], central, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(along, central, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(jnp.sum(grad_a * da, axis=1), shifted, rtol=1e-6, atol=1e-6)


def test_dependent_active_rows_are_refused_by_the_lu_and_give_zero(monkeypatch):
    prob, active, rhs = system(11, qp=False)
    dense = np.array(prob.A.todense())
    dense[1] = dense[0]
    prob = prob._replace(A=sparse.BCOO.fromdense(jnp.asarray(dense)))
    mask = act.masks(prob, active)
    scale = tuple(jnp.ones_like(m, float) for m in mask)
    b = jnp.concatenate([jnp.where(m, r, 0) for m, r in zip(mask, rhs)])
    _, ok = host_solve.solve(host_solve.entries(prob, mask, scale), jnp.concatenate(mask), b, jnp.asarray(TOL),
                             jnp.asarray(False), N)
    assert not bool(ok)
    out = _with_lu_after(monkeypatch, 0)(prob, active, rhs)
    for part in out:
        assert bool(jnp.all(part == 0))


def test_structurally_singular_systems_never_reach_superlu(monkeypatch):
    """SuperLU corrupts the heap on a structurally singular matrix (two columns whose only entry is in one row,
    no empty row or column): such a system is refused before it, and a structurally regular one still reaches it."""
    def refuse(*args, **kwargs):
        raise AssertionError("SuperLU was called")

    rng = np.random.default_rng(5)
    K = (sp.random(30, 30, density=0.2, random_state=rng) + sp.eye(30)).tolil()
    K[:, 3] = 0
    K[:, 4] = 0
    K[7, 3] = K[7, 4] = 1.0
    K = K.tocsc()
    K.eliminate_zeros()
    assert np.all(K.getnnz(0) > 0) and np.all(K.getnnz(1) > 0)
    monkeypatch.setattr(host_solve.spla, "splu", refuse)
    assert host_solve._lu(K, rng.standard_normal(30)) is None
    with pytest.raises(AssertionError, match="SuperLU was called"):
        host_solve._lu(sp.eye(30, format="csc"), rng.standard_normal(30))
