"""Exact derivatives of QPs and LPs at default settings: the interior point's answer refined on its active set.

Instances are built from their KKT conditions (a chosen solution, active set, positive
multipliers on it and slacks off it), so the solution and the exact active-set
derivative of ``w'x*`` are known in closed form: ``x* = K^-1 (-q, b, h_active)`` with
``K`` the active-set KKT matrix.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optdsl.runtime.solvers.interior_point import solve_qp


def designed(rng, n, m, p, k, *, lp=False, lam_range=(1e-2, 1.0), slack_range=(1e-2, 1.0), density=1.0):
    """A QP (LP with ``lp``) whose solution has the first ``k`` inequalities active; its data and the exact
    gradient of ``w'x*`` with respect to ``(q, h, b)``."""
    x = rng.normal(size=n)
    G = rng.normal(size=(m, n)) * (rng.random((m, n)) < density)
    A = rng.normal(size=(p, n))
    L = rng.normal(size=(n, n))
    Q = np.zeros((n, n)) if lp else L @ L.T / n + np.eye(n)
    lam = np.zeros(m)
    lam[:k] = np.exp(rng.uniform(*np.log(lam_range), size=k))
    slack = np.zeros(m)
    slack[k:] = np.exp(rng.uniform(*np.log(slack_range), size=m - k))
    nu = rng.normal(size=p)
    q = -(Q @ x + A.T @ nu + G.T @ lam)
    data = dict(Q=Q, q=q, A=A, b=A @ x, G=G, h=G @ x + slack)
    w = rng.normal(size=n)
    K = np.block([[Q, A.T, G[:k].T], [A, np.zeros((p, p + k))], [G[:k], np.zeros((k, p + k))]])
    y = np.linalg.solve(K.T, np.concatenate([w, np.zeros(p + k)]))
    grad_h = np.zeros(m)
    grad_h[:k] = y[n + p:]
    return data, x, w, (-y[:n], grad_h, y[n:n + p])


def batch(instances):
    """Stack a list of ``designed`` outputs into arrays with a leading batch axis."""
    data = {key: jnp.asarray(np.stack([d[key] for d, *_ in instances])) for key in instances[0][0]}
    x = np.stack([x for _, x, _, _ in instances])
    w = jnp.asarray(np.stack([w for _, _, w, _ in instances]))
    grads = [np.stack(g) for g in zip(*(g for *_, g in instances))]
    return data, x, w, grads


def loss(q, h, b, rest, w):
    """``w'x*`` and the solver's ``singular`` flag."""
    point, aux = solve_qp(rest["Q"], q, rest["A"], b, rest["G"], h)
    return w @ point.x, (point.x, aux.singular, aux.status)


gradient = jax.jit(jax.vmap(jax.grad(loss, argnums=(0, 1, 2), has_aux=True)))


def check(instances, tol):
    """Solve and differentiate the batch; every instance's solution and gradient within ``tol`` (relative)."""
    data, x_ref, w, grads_ref = batch(instances)
    rest = {key: data[key] for key in ("Q", "A", "G")}
    grads, (x, singular, code) = gradient(data["q"], data["h"], data["b"], rest, w)
    assert np.all(np.asarray(code) == 0)
    assert np.max(np.abs(np.asarray(x) - x_ref)) <= tol * max(1, np.max(np.abs(x_ref)))
    g, ref = (np.concatenate([np.asarray(v).reshape(len(x_ref), -1) for v in vs], axis=1) for vs in (grads, grads_ref))
    assert np.all(np.isfinite(g))
    err = np.max(np.abs(g - ref), axis=1) / np.max(np.abs(ref), axis=1)
    assert np.all(err <= tol), err
    return np.asarray(singular)


def test_random_qps_with_equalities_have_exact_gradients():
    rng = np.random.default_rng(0)
    singular = check([designed(rng, 30, 60, 6, 12) for _ in range(8)], 1e-9)
    assert not singular.any()


def test_lp_vertices_have_exact_gradients():
    rng = np.random.default_rng(1)
    singular = check([designed(rng, 20, 50, 5, 15, lp=True) for _ in range(8)], 1e-9)
    assert not singular.any()


def test_near_degenerate_constraints_still_give_exact_gradients():
    """Weakly active constraints (multipliers down to 1e-6) and nearly active ones (slacks down to 1e-6)."""
    rng = np.random.default_rng(2)
    instances = [designed(rng, 30, 60, 6, 12, lam_range=(1e-6, 1e-2), slack_range=(1e-6, 1e-2)) for _ in range(8)]
    singular = check(instances, 1e-6)
    assert not singular.any()


def test_a_constraint_active_with_zero_multiplier_is_flagged_and_finite():
    """``lam_i = 0`` and slack 0 on one row: the derivative is not unique; it is flagged and finite."""
    rng = np.random.default_rng(3)
    data, x, w, _ = designed(rng, 10, 20, 0, 4)
    data["h"][4] = data["G"][4] @ x
    rest = {key: jnp.asarray(data[key]) for key in ("Q", "A", "G")}
    g, (x_out, singular, code) = jax.jit(jax.grad(loss, argnums=(0, 1, 2), has_aux=True))(
        jnp.asarray(data["q"]), jnp.asarray(data["h"]), jnp.asarray(data["b"]), rest, jnp.asarray(w))
    assert int(code) == 0 and bool(singular)
    np.testing.assert_allclose(x_out, x, atol=1e-8)
    assert all(np.all(np.isfinite(np.asarray(v))) for v in g)


@pytest.mark.parametrize("n, m", [(300, 600)])
def test_large_sparse_qp_has_an_exact_gradient(n, m):
    """n = 300 with 600 inequalities and a sparse-ish G (10% non-zeros): exact, not stopping-tolerance, accuracy."""
    rng = np.random.default_rng(4)
    singular = check([designed(rng, n, m, 0, 120, density=0.1)], 1e-8)
    assert not singular.any()
