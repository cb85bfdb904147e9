"""The one KKT residual map and its Jacobian: the factorised Jacobian is ``jax.jacfwd`` of the residual (QPs, NLPs)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from optdsl.runtime import status
from optdsl.runtime.solvers.interior_point import (QP_FUNCTIONS, KKTPoint, QPData, kkt_factored_solve, kkt_jacobian,
                                                   kkt_residual, nlp_interior_point, qp_interior_point)

N_QP, P_QP, M_QP = 6, 2, 9
N_NLP, P_NLP, M_NLP = 4, 1, 2


def jacfwd_of_residual(residual, point, params):
    """Dense ``jax.jacfwd`` of ``residual(point, params)`` over the flattened point ``(x, nu, lam)``."""
    z, unravel = ravel_pytree(point)
    return jax.jacfwd(lambda v: ravel_pytree(residual(unravel(v), params))[0])(z)


def factorised_jacobian(aux):
    """The matrix whose LU the aux holds, ``J = diag(row_scale)^-1 P' L U``."""
    return aux.kkt_lu.matrix() / aux.row_scale[:, None]


def random_qp(seed):
    """A strictly convex QP with equalities and inequalities (feasible by construction)."""
    rng = np.random.default_rng(seed)
    L = rng.normal(size=(N_QP, N_QP))
    x0 = rng.normal(size=N_QP)
    G, A = rng.normal(size=(M_QP, N_QP)), rng.normal(size=(P_QP, N_QP))
    data = (L @ L.T / N_QP + 0.1 * np.eye(N_QP), rng.normal(size=N_QP), A, A @ x0, G,
            G @ x0 + rng.uniform(0.0, 1.0, size=M_QP))
    return QPData(*map(jnp.asarray, data))


def objective(x, c):
    return 0.5 * jnp.sum((x - c[:N_NLP]) ** 2) + 0.1 * jnp.sum(x ** 4) + jnp.exp(x[0] - x[1])


def inequalities(x, c):
    return jnp.array([x @ x - 1.0, x[2] * x[3] + x[0] - c[N_NLP]])


def equalities(x, c):
    return jnp.array([jnp.sum(x) + 0.1 * x[1] ** 3 - c[N_NLP + 1]])


NLP = (objective, inequalities, equalities)


def random_nlp_params(seed):
    rng = np.random.default_rng(seed)
    shifts = rng.uniform(-0.5, 0.0, 1), rng.uniform(-0.5, 0.5, 1)
    return jnp.asarray(np.concatenate([2 * rng.normal(size=N_NLP), *shifts]))


solve_qp_once = jax.jit(lambda d: qp_interior_point(*d))
solve_nlp_once = jax.jit(lambda c: nlp_interior_point(*NLP, jnp.zeros(N_NLP), c, m=M_NLP, p=P_NLP))


def assert_factorisation_is_the_jacobian(residual, point, params, aux):
    J = jacfwd_of_residual(residual, point, params)
    np.testing.assert_allclose(factorised_jacobian(aux), J, rtol=1e-9, atol=1e-9 * np.abs(J).max())
    rhs = jnp.asarray(np.random.default_rng(0).normal(size=J.shape[0]))
    np.testing.assert_allclose(J @ kkt_factored_solve(aux, rhs, False), rhs, atol=1e-8)
    np.testing.assert_allclose(J.T @ kkt_factored_solve(aux, rhs, True), rhs, atol=1e-8)


@pytest.mark.parametrize("seed", range(4))
def test_qp_factorised_jacobian_is_jacfwd_of_the_residual(seed):
    data = random_qp(seed)
    point, aux = solve_qp_once(data)
    assert int(aux.status) == status.SOLVED and not bool(aux.singular)
    assert_factorisation_is_the_jacobian(kkt_residual(*QP_FUNCTIONS), point, data, aux)


@pytest.mark.parametrize("seed", range(4))
def test_nlp_factorised_jacobian_is_jacfwd_of_the_residual(seed):
    c = random_nlp_params(seed)
    point, aux = solve_nlp_once(c)
    assert int(aux.status) == status.SOLVED and not bool(aux.singular)
    assert point.nu.shape == (P_NLP,) and point.lam.shape == (M_NLP,)
    assert_factorisation_is_the_jacobian(kkt_residual(*NLP), point, c, aux)


@pytest.mark.parametrize("problem", ["qp", "nlp"])
def test_jacobian_blocks_equal_jacfwd_at_any_point_and_mu(problem):
    rng = np.random.default_rng(1)
    if problem == "qp":
        functions, params, (n, p, m) = QP_FUNCTIONS, random_qp(1), (N_QP, P_QP, M_QP)
    else:
        functions, params, (n, p, m) = NLP, random_nlp_params(1), (N_NLP, P_NLP, M_NLP)
    point = KKTPoint(*(jnp.asarray(rng.normal(size=k)) for k in (n, p, m)))
    blocks = kkt_jacobian(*functions)(point, params).matrix()
    for mu in (0.0, 0.3):
        np.testing.assert_allclose(blocks, jacfwd_of_residual(kkt_residual(*functions, mu=mu), point, params),
                                   rtol=1e-12, atol=1e-12)


def test_qp_residual_is_the_matrix_formula():
    d = random_qp(2)
    rng = np.random.default_rng(2)
    x, nu, lam = (jnp.asarray(rng.normal(size=k)) for k in (N_QP, P_QP, M_QP))
    F = kkt_residual(*QP_FUNCTIONS, mu=0.5)(KKTPoint(x, nu, lam), d)
    np.testing.assert_allclose(F.x, d.Q @ x + d.q + d.A.T @ nu + d.G.T @ lam, atol=1e-12)
    np.testing.assert_allclose(F.nu, d.A @ x - d.b, atol=1e-12)
    np.testing.assert_allclose(F.lam, lam * (d.G @ x - d.h) + 0.5, atol=1e-12)


def test_missing_constraints_give_empty_blocks():
    f = lambda x, c: jnp.sum((x - c) ** 2)
    point = KKTPoint(jnp.array([1.0, 2.0]), jnp.zeros(0), jnp.zeros(0))
    F = kkt_residual(f, None, None)(point, jnp.array([0.0, 1.0]))
    assert F.nu.shape == (0,) and F.lam.shape == (0,)
    np.testing.assert_allclose(F.x, [2.0, 2.0])
    np.testing.assert_allclose(kkt_jacobian(f, None, None)(point, jnp.zeros(2)).matrix(), 2 * np.eye(2))
