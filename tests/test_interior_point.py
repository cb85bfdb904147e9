"""Interior-point QP and NLP solvers: cvxpy+Clarabel and scipy references, certificates, implicit gradients vs FD.

Shapes are fixed per test and batches go through one ``jit(vmap(...))`` so the
file compiles each solver only a few times.
"""

from __future__ import annotations

import doctest

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
from jax.flatten_util import ravel_pytree

from optdsl.runtime import status
from optdsl.runtime.solvers.interior_point import (QP_FUNCTIONS, KKTPoint, QPData, kkt, kkt_factored_solve,
                                                   kkt_residual, nlp, nlp_interior_point, qp, qp_interior_point,
                                                   solve_nlp, solve_qp)

CLARABEL_TIGHT = dict(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
CVX_STATUS = {"optimal": status.SOLVED, "infeasible": status.INFEASIBLE, "unbounded": status.UNBOUNDED}


# ----------------------------------------------------------------------------- QP data and references

def random_qp(rng, n, p, m, lp=False, ridge=0.1):
    """A feasible, bounded QP (``Q = L L'/n + ridge I``) or LP with box bounds, ``(Q, q, A, b, G, h)``."""
    x0 = rng.normal(size=n)
    if lp:
        Q = np.zeros((n, n))
        box = np.vstack([np.eye(n), -np.eye(n)])
        G = np.vstack([rng.normal(size=(m - 2 * n, n)), box])
    else:
        L = rng.normal(size=(n, n))
        Q = L @ L.T / n + ridge * np.eye(n)
        G = rng.normal(size=(m, n))
    h = G @ x0 + rng.uniform(0.1, 2.0, size=m)
    A = rng.normal(size=(p, n))
    return Q, rng.normal(size=n), A, A @ x0, G, h


def stack(instances):
    return tuple(jnp.asarray(np.stack(arrays)) for arrays in zip(*instances))


def clarabel_qp(Q, q, A, b, G, h, **settings):
    """cvxpy+Clarabel status and ``(x, nu, lam)``; cvxpy's duals use the same signs as ours."""
    x = cp.Variable(q.shape[0])
    ineq, eq = G @ x <= h, A @ x == b
    constraints = [ineq] + ([eq] if b.shape[0] else [])
    problem = cp.Problem(cp.Minimize(0.5 * cp.quad_form(x, cp.psd_wrap(Q)) + q @ x), constraints)
    problem.solve(**(settings or CLARABEL_TIGHT))
    if problem.status != "optimal":
        return problem.status, None
    nu = eq.dual_value if b.shape[0] else np.zeros(0)
    return problem.status, (x.value, np.atleast_1d(nu), ineq.dual_value)


def kkt_matrix(residual, point, *data):
    """Dense Jacobian of ``residual(point, *data)`` w.r.t. the flattened point ``(x, nu, lam)``."""
    z, unravel = ravel_pytree(point)
    return jax.jacfwd(lambda v: ravel_pytree(residual(unravel(v), *data))[0])(z)


solve_batch = jax.jit(jax.vmap(qp_interior_point))
solve_one = jax.jit(qp_interior_point)


# ----------------------------------------------------------------------------- solutions

@pytest.mark.parametrize("lp", [False, True], ids=["qp", "lp"])
def test_random_problems_match_clarabel(lp):
    rng = np.random.default_rng(1 if lp else 0)
    instances = [random_qp(rng, 20, 4, 50, lp=lp) for _ in range(4)]
    points, aux = solve_batch(*stack(instances))
    assert aux.status.tolist() == [status.SOLVED] * 4
    assert not np.any(aux.singular)
    for k, data in enumerate(instances):
        cvx_status, ref = clarabel_qp(*data)
        assert cvx_status == "optimal"
        for ours, theirs in zip((points.x[k], points.nu[k], points.lam[k]), ref):
            np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_without_inequalities_is_the_linear_kkt_solve():
    p, rng = 2, np.random.default_rng(2)
    Q, q, A, b, _, _ = random_qp(rng, 6, p, 8)
    point, aux = solve_one(Q, q, A, b, np.zeros((0, 6)), np.zeros(0))
    assert int(aux.status) == status.SOLVED and point.nu.shape == (p,) and point.lam.shape == (0,)
    kkt = np.block([[Q, A.T], [A, np.zeros((p, p))]])
    np.testing.assert_allclose(np.concatenate([point.x, point.nu]),
                               np.linalg.solve(kkt, np.concatenate([-q, b])), atol=1e-9)


def _certificate_cases():
    """Same-shaped (n=4, p=1, m=6) QPs/LPs whose status is known by construction."""
    rng = np.random.default_rng(3)
    n, e = 4, np.eye(4)
    eye, zero = np.eye(n), np.zeros((n, n))
    cases = {}
    # x_1 <= -1 and x_1 >= 1.
    G = np.vstack([e[0], -e[0], rng.normal(size=(4, n))])
    h = np.concatenate([[-1.0, -1.0], rng.uniform(1, 2, 4)])
    cases["infeasible_qp"] = (eye, rng.normal(size=n), e[3:], np.zeros(1), G, h), status.INFEASIBLE
    # The same contradiction in an LP whose dual is feasible (x_2, x_3 boxed, x_4 fixed).
    G = np.vstack([e[0], -e[0], e[1], -e[1], e[2], -e[2]])
    h = np.array([-1.0, -1.0, 1.0, 1.0, 1.0, 1.0])
    cases["infeasible_lp"] = (zero, rng.normal(size=n), e[3:], np.zeros(1), G, h), status.INFEASIBLE
    # sum(x) = 5 with x <= 1.
    G = np.vstack([eye, rng.normal(size=(2, n))])
    h = np.concatenate([np.ones(n), [10.0, 10.0]])
    cases["infeasible_equality"] = (eye, rng.normal(size=n), np.ones((1, n)), np.array([5.0]), G, h), status.INFEASIBLE
    # min -sum(x) over x >= 0, x_1 = 1.
    G = np.vstack([-eye, -(e[1] + e[2]), -(e[2] + e[3])])
    cases["unbounded_lp"] = (zero, -np.ones(n), e[:1], np.ones(1), G, np.zeros(6)), status.UNBOUNDED
    # Q singular along x_4 >= 0, which q pushes to +inf; x_1 = 0, x_2, x_3 boxed.
    G = np.vstack([e[1], -e[1], e[2], -e[2], -e[3], e[0] + e[1]])
    cases["unbounded_qp"] = (np.diag([1.0, 1.0, 1.0, 0.0]), np.array([0.3, -0.2, 0.1, -1.0]), e[:1], np.zeros(1),
                             G, np.ones(6)), status.UNBOUNDED
    Q, q, A, b, G, h = random_qp(rng, n, 1, 6)
    cases["feasible"] = (Q, q, A, b, G, h), status.SOLVED
    return cases


def test_infeasible_and_unbounded_are_certified_and_vmap_equals_loop():
    cases = _certificate_cases()
    data = [c[0] for c in cases.values()]
    points, aux = solve_batch(*stack(data))
    for k, (name, (inst, expected)) in enumerate(cases.items()):
        assert int(aux.status[k]) == expected, name
        single, single_aux = solve_one(*map(jnp.asarray, inst))
        assert int(single_aux.iterations) == int(aux.iterations[k])
        for a, b in zip(single, points):
            np.testing.assert_allclose(a, b[k], rtol=1e-10, atol=1e-12)
        assert CVX_STATUS[clarabel_qp(*inst, solver=cp.CLARABEL)[0]] == expected, name
        Q, q, A, b, G, h = inst
        x, nu, lam = points.x[k], points.nu[k], points.lam[k]
        if expected == status.INFEASIBLE:  # Farkas: A'nu + G'lam = 0, lam >= 0, b'nu + h'lam = -1
            assert np.all(lam >= 0)
            np.testing.assert_allclose(A.T @ nu + G.T @ lam, 0, atol=1e-8)
            np.testing.assert_allclose(b @ nu + h @ lam, -1, atol=1e-12)
        if expected == status.UNBOUNDED:  # ray: Qx = 0, Ax = 0, Gx <= 0, q'x = -1
            np.testing.assert_allclose(np.concatenate([Q @ x, A @ x]), 0, atol=1e-8)
            assert np.all(G @ x <= 1e-8)
            np.testing.assert_allclose(q @ x, -1, atol=1e-12)


def test_random_mixed_status_batch_agrees_with_clarabel():
    """Seeded LPs/QPs with random right-hand sides: feasible, infeasible and unbounded ones mixed."""
    rng = np.random.default_rng(9)
    instances = []
    for k in range(40):
        n, p, m = 5, 1, 6
        Q = np.zeros((n, n))
        if k % 3 == 1:
            L = rng.normal(size=(n, n))
            Q = L @ L.T
        elif k % 3 == 2:  # PSD of rank 2: unbounded directions stay possible
            L = rng.normal(size=(n, 2))
            Q = L @ L.T
        instances.append((Q, rng.normal(size=n), rng.normal(size=(p, n)), rng.normal(size=p),
                          rng.normal(size=(m, n)), rng.normal(size=m)))
    points, aux = solve_batch(*stack(instances))
    seen = set()
    for k, data in enumerate(instances):
        x = cp.Variable(5)
        Q, q, A, b, G, h = data
        problem = cp.Problem(cp.Minimize(0.5 * cp.quad_form(x, cp.psd_wrap(Q)) + q @ x), [G @ x <= h, A @ x == b])
        problem.solve(solver=cp.CLARABEL)
        expected = CVX_STATUS[problem.status]
        seen.add(expected)
        assert int(aux.status[k]) == expected, k
        if expected == status.SOLVED:
            np.testing.assert_allclose(points.x[k], x.value, atol=1e-5 * max(1, np.abs(x.value).max()))
    assert seen == {status.SOLVED, status.INFEASIBLE, status.UNBOUNDED}


def test_float32_in_float32_out():
    rng = np.random.default_rng(4)
    instances = [random_qp(rng, 20, 4, 50, lp=k % 2 == 1, ridge=1.0) for k in range(4)]
    batch = tuple(v.astype(jnp.float32) for v in stack(instances))
    # The float32 default tol (~1.2e-5 on residuals and relative gap) leaves ~1e-3 in x; 1e-6 is reachable and
    # leaves up to ~3e-4 in the first instance's duals (about 300 times the residual: its conditioning).
    points, aux = jax.jit(jax.vmap(lambda *d: qp_interior_point(*d, tol=1e-6)))(*batch)
    assert points.x.dtype == jnp.float32 and aux.residual.dtype == jnp.float32
    assert aux.status.tolist() == [status.SOLVED] * 4
    for k, data in enumerate(instances):
        _, ref = clarabel_qp(*data)
        for ours, theirs in zip((points.x[k], points.nu[k], points.lam[k]), ref):
            np.testing.assert_allclose(ours, theirs, atol=5e-4 * max(1, np.abs(theirs).max()))


# ----------------------------------------------------------------------------- derivatives

def _small_qp():
    """A random QP of the certificate cases' shapes (n=4, p=1, m=6), so compiled solvers are reused."""
    rng = np.random.default_rng(5)
    return tuple(map(jnp.asarray, random_qp(rng, 4, 1, 6)))


def _weights(n, p, m):
    rng = np.random.default_rng(6)
    return tuple(jnp.asarray(rng.normal(size=k)) for k in (n, p, m))


def central_differences(batched, args, step=1e-5):
    """Central differences of a scalar function w.r.t. every entry of every argument.

    ``batched(*stacked_args)`` evaluates the function on a batch (leading axis) of
    argument tuples, so all perturbed problems go through one compiled solve.
    """
    plus, minus, shapes = [], [], []
    for i, arg in enumerate(args):
        shapes.append(arg.shape)
        for idx in np.ndindex(arg.shape):
            for sign, out in ((1, plus), (-1, minus)):
                moved = list(args)
                moved[i] = arg.at[idx].add(sign * step)
                out.append(moved)
    values = np.asarray(batched(*stack(plus + minus)))
    diffs = (values[:len(plus)] - values[len(plus):]) / (2 * step)
    sizes = np.cumsum([0] + [int(np.prod(shape)) for shape in shapes])
    return [diffs[a:b].reshape(shape) for a, b, shape in zip(sizes[:-1], sizes[1:], shapes)]


def weighted_sum(weights, point):
    """The scalar test loss ``sum_k <w_k, point_k>`` (works on batched points too)."""
    return sum(jnp.tensordot(v, wk, axes=1) for wk, v in zip(weights, point))


def test_gradients_match_central_differences():
    data = _small_qp()
    w = _weights(4, 1, 6)
    grads = jax.jit(jax.grad(lambda *d: weighted_sum(w, solve_qp(*d)[0]), argnums=tuple(range(6))))(*data)
    fds = central_differences(lambda *d: weighted_sum(w, solve_batch(*d)[0]), data)
    for grad, fd in zip(grads, fds):
        np.testing.assert_allclose(grad, fd, rtol=0, atol=1e-6 * np.abs(fd).max())


def test_jacfwd_equals_jacrev_factored_solve_is_dense_solve_and_warm_start():
    data = _small_qp()

    def point_of(q, h, G):
        return solve_qp(data[0], q, data[2], data[3], G, h)[0]

    args = (0, 1, 2)
    both = jax.jit(lambda *a: (jax.jacfwd(point_of, argnums=args)(*a), jax.jacrev(point_of, argnums=args)(*a)))
    fwd, rev = both(data[1], data[5], data[4])
    for a, b in zip(jax.tree_util.tree_leaves(fwd), jax.tree_util.tree_leaves(rev)):
        np.testing.assert_allclose(a, b, atol=1e-10)

    point, aux = solve_one(*data)
    assert not bool(aux.singular)
    J = kkt_matrix(kkt_residual(*QP_FUNCTIONS), point, QPData(*data))
    rhs = jnp.asarray(np.random.default_rng(7).normal(size=J.shape[0]))
    np.testing.assert_allclose(kkt_factored_solve(aux, rhs, False), jnp.linalg.solve(J, rhs), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(kkt_factored_solve(aux, rhs, True), jnp.linalg.solve(J.T, rhs), rtol=1e-9, atol=1e-10)

    warm, warm_aux = solve_one(*data, init=point)
    assert int(warm_aux.status) == status.SOLVED
    for a, b in zip(warm, point):
        np.testing.assert_allclose(a, b, atol=1e-8)


def _degenerate_qp():
    """min 0.5|x - c|^2 s.t. x <= 0 with c_2 = 0: x_2 = lam_2 = 0 (strict complementarity fails)."""
    c = jnp.array([1.0, 0.0, -1.0])
    return jnp.eye(3), -c, jnp.zeros((0, 3)), jnp.zeros(0), jnp.eye(3), jnp.zeros(3)


def test_degenerate_qp_is_flagged_and_gradients_stay_finite():
    data = _degenerate_qp()
    jac, (point, aux) = jax.jit(jax.jacrev(lambda q, h: (lambda out: (out[0], out))(
        solve_qp(data[0], q, data[2], data[3], data[4], h)), argnums=(0, 1), has_aux=True))(data[1], data[5])
    assert int(aux.status) == status.SOLVED and bool(aux.singular)
    np.testing.assert_allclose(point.x, [0, 0, -1], atol=1e-5)
    leaves = jax.tree_util.tree_leaves(jac)
    assert all(np.all(np.isfinite(v)) for v in leaves)
    # Away from the degenerate coordinate the derivative is the ordinary one: dx/dq = -diag(0, ., 1).
    dx_dq = np.asarray(jac.x[0])
    np.testing.assert_allclose(dx_dq[[0, 2]][:, [0, 2]], np.diag([0.0, -1.0]), atol=1e-6)


def relaxed_closed_form(q, h, mu):
    """Central-path point of ``min 0.5|x|^2 + q'x s.t. x <= h``: ``(c - x)(h - x) = mu`` with ``c = -q``."""
    c = -q
    x = (c + h - np.sqrt((c - h) ** 2 + 4 * mu)) / 2
    return x, c - x


def test_smoothed_mode_differentiates_the_relaxed_solution():
    Q, q, A, b, G, h = _degenerate_qp()
    mu = 1e-3
    w = _weights(3, 0, 3)

    def loss(q, h):
        point, aux = solve_qp(Q, q, A, b, G, h, mu_target=mu)
        return weighted_sum(w, point), (point, aux)

    grads, (point, aux) = jax.jit(jax.grad(loss, argnums=(0, 1), has_aux=True))(q, h)
    assert int(aux.status) == status.SOLVED and not bool(aux.singular)
    np.testing.assert_allclose(point.lam * (h - G @ point.x), mu, rtol=1e-8)
    x, lam = relaxed_closed_form(np.asarray(q), np.asarray(h), mu)
    np.testing.assert_allclose(point.x, x, atol=1e-9)
    np.testing.assert_allclose(point.lam, lam, atol=1e-9)

    def relaxed_loss(q, h):
        x, lam = relaxed_closed_form(q, h, mu)
        return float(np.asarray(w[0]) @ x + np.asarray(w[2]) @ lam)

    step = 1e-6
    for i, grad in enumerate(grads):
        fd = np.zeros(3)
        for j in range(3):
            args = [np.asarray(q), np.asarray(h)]
            args[i] = args[i] + step * np.eye(3)[j]
            up = relaxed_loss(*args)
            args[i] = args[i] - 2 * step * np.eye(3)[j]
            fd[j] = (up - relaxed_loss(*args)) / (2 * step)
        np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------------- errors

def test_bad_input_raises_naming_the_argument():
    Q, q, A, b, G, h = _small_qp()
    with pytest.raises(ValueError, match="Q must have shape"):
        qp_interior_point(Q[:3], q, A, b, G, h)
    with pytest.raises(ValueError, match="G must have shape"):
        qp_interior_point(Q, q, A, b, G[:, :3], h)
    with pytest.raises(ValueError, match="b must be a vector"):
        qp_interior_point(Q, q, A, b[:, None], G, h)
    with pytest.raises(ValueError, match="mu_target must be positive"):
        qp_interior_point(Q, q, A, b, G, h, mu_target=0.0)
    with pytest.raises(ValueError, match="init.lam must have shape"):
        qp_interior_point(Q, q, A, b, G, h, init=KKTPoint(jnp.zeros(4), jnp.zeros(1), jnp.zeros(2)))
    with pytest.raises(TypeError, match="floating point"):
        qp_interior_point(*(np.asarray(v, int) for v in (Q, q, A, b, G, h)))


# ----------------------------------------------------------------------------- NLP

def rosenbrock(x, c):
    return (c[0] - x[0]) ** 2 + c[1] * (x[1] - x[0] ** 2) ** 2


def disk(x, c):
    return jnp.array([x @ x - c[2]])


def saddle(x, c):
    """Indefinite quadratic objective: non-convex on the circle below."""
    return x[0] ** 2 - c[0] * x[1] ** 2 + x[0] * x[1]


def circle(x, c):
    return jnp.array([x @ x - 1.0])


def below(x, c):
    return jnp.array([x[1] - c[1]])


def logistic_loss(w, prm):
    X, y, _ = prm
    return jnp.mean(jnp.logaddexp(0, -y * (X @ w)))


def norm_ball(w, prm):
    return jnp.array([w @ w - prm[2] ** 2])


def budget(w, prm):
    return jnp.array([jnp.sum(w) - 0.5])


ROSENBROCK = jnp.array([1.0, 100.0, 1.0])
SADDLE = jnp.array([1.0, 0.5])
solve_rosenbrock = jax.jit(lambda c: nlp_interior_point(rosenbrock, disk, None, jnp.zeros(2), c, m=1, p=0))
solve_saddle = jax.jit(lambda c: nlp_interior_point(saddle, below, circle, jnp.array([0.5, 0.1]), c, m=1, p=1))


def multipliers_from_stationarity(grad_f, jac_active):
    """Least-squares multipliers of the active constraints: grad f + J' y = 0."""
    return np.linalg.lstsq(jac_active.T, -grad_f, rcond=None)[0]


def test_rosenbrock_on_a_disk_matches_scipy_and_factored_solve():
    point, aux = solve_rosenbrock(ROSENBROCK)
    assert int(aux.status) == status.SOLVED and not bool(aux.singular)
    c = np.asarray(ROSENBROCK)
    ref = scipy.optimize.minimize(lambda x: rosenbrock(x, c), np.zeros(2), method="SLSQP", tol=1e-14,
                                  constraints=[{"type": "ineq", "fun": lambda x: c[2] - x @ x}])
    np.testing.assert_allclose(point.x, ref.x, atol=1e-6)
    lam = multipliers_from_stationarity(np.asarray(jax.grad(rosenbrock)(ref.x, c)), 2 * ref.x[None])
    np.testing.assert_allclose(point.lam, lam, atol=1e-6)
    J = kkt_matrix(kkt_residual(rosenbrock, disk, None), point, ROSENBROCK)
    rhs = jnp.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(kkt_factored_solve(aux, rhs, False), jnp.linalg.solve(J, rhs), atol=1e-10)
    np.testing.assert_allclose(kkt_factored_solve(aux, rhs, True), jnp.linalg.solve(J.T, rhs), atol=1e-10)


def test_nonconvex_problem_matches_scipy_local_solution():
    point, aux = solve_saddle(SADDLE)
    assert int(aux.status) == status.SOLVED
    c = np.asarray(SADDLE)
    ref = scipy.optimize.minimize(lambda x: saddle(x, c), np.array([0.5, 0.1]), method="SLSQP", tol=1e-14,
                                  constraints=[{"type": "eq", "fun": lambda x: x @ x - 1.0},
                                               {"type": "ineq", "fun": lambda x: c[1] - x[1]}])
    np.testing.assert_allclose(point.x, ref.x, atol=1e-6)
    # x_2 < 0.5 is inactive: lam = 0 and nu from stationarity on the circle.
    np.testing.assert_allclose(point.lam, 0, atol=1e-9)
    nu = multipliers_from_stationarity(np.asarray(jax.grad(saddle)(ref.x, c)), 2 * ref.x[None])
    np.testing.assert_allclose(point.nu, nu, atol=1e-6)


@pytest.mark.parametrize("problem", ["rosenbrock", "saddle"])
def test_nlp_gradients_match_central_differences_and_modes_agree(problem):
    f, g, h, x0, c, m, p, solve = {
        "rosenbrock": (rosenbrock, disk, None, jnp.zeros(2), ROSENBROCK, 1, 0, solve_rosenbrock),
        "saddle": (saddle, below, circle, jnp.array([0.5, 0.1]), SADDLE, 1, 1, solve_saddle),
    }[problem]
    w = _weights(2, p, m)

    def point_of(c):
        return solve_nlp(f, g, h, x0, c, m=m, p=p)[0]

    both = jax.jit(lambda c: (jax.jacfwd(point_of)(c), jax.jacrev(point_of)(c)))
    fwd, rev = both(c)
    for a, b in zip(fwd, rev):
        np.testing.assert_allclose(a, b, atol=1e-9)
    grad = sum(wk @ jac for wk, jac in zip(w, fwd))
    step = 1e-5
    fd = np.array([(weighted_sum(w, solve(c.at[i].add(step))[0]) - weighted_sum(w, solve(c.at[i].add(-step))[0]))
                   / (2 * step) for i in range(c.shape[0])])
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


def _logistic_data(radius):
    rng = np.random.default_rng(8)
    X = rng.normal(size=(40, 5))
    y = np.where(X @ rng.normal(size=5) + 0.3 * rng.normal(size=40) > 0, 1.0, -1.0)
    return X, y, radius


def clarabel_logistic(X, y, radius):
    w = cp.Variable(X.shape[1])
    ball, eq = cp.sum_squares(w) <= radius ** 2, cp.sum(w) == 0.5
    cp.Problem(cp.Minimize(cp.sum(cp.logistic(-cp.multiply(y, X @ w))) / X.shape[0]), [ball, eq]).solve(
        solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    return w.value, eq.dual_value, ball.dual_value


def test_convex_nlp_batch_matches_clarabel_and_float32():
    radii = [0.5, 1.0, 2.0]
    batch = stack([_logistic_data(r) for r in radii])
    run = jax.jit(jax.vmap(lambda prm: nlp_interior_point(logistic_loss, norm_ball, budget, jnp.zeros(5), prm,
                                                          m=1, p=1)))
    points, aux = run(batch)
    assert aux.status.tolist() == [status.SOLVED] * 3
    for k, r in enumerate(radii):
        x_ref, nu_ref, lam_ref = clarabel_logistic(*_logistic_data(r))
        np.testing.assert_allclose(points.x[k], x_ref, atol=1e-6)
        np.testing.assert_allclose(points.nu[k], np.atleast_1d(nu_ref), atol=1e-6)
        np.testing.assert_allclose(points.lam[k], np.atleast_1d(lam_ref), atol=1e-6)

    batch32 = jax.tree_util.tree_map(lambda v: v.astype(jnp.float32), batch)
    points32, aux32 = jax.jit(jax.vmap(lambda prm: nlp_interior_point(
        logistic_loss, norm_ball, budget, jnp.zeros(5, jnp.float32), prm, m=1, p=1, tol=1e-4)))(batch32)
    assert points32.x.dtype == jnp.float32 and aux32.status.tolist() == [status.SOLVED] * 3
    np.testing.assert_allclose(points32.x, points.x, atol=1e-4)


def test_nlp_bad_input_raises_naming_the_argument():
    with pytest.raises(ValueError, match=r"g\(x, params\) must return a vector of shape \(2,\)"):
        nlp_interior_point(rosenbrock, disk, None, jnp.zeros(2), ROSENBROCK, m=2, p=0)
    with pytest.raises(ValueError, match="h_eq is None but p = 1"):
        nlp_interior_point(rosenbrock, disk, None, jnp.zeros(2), ROSENBROCK, m=1, p=1)
    with pytest.raises(ValueError, match="must return a scalar"):
        nlp_interior_point(disk, None, None, jnp.zeros(2), ROSENBROCK, m=0, p=0)
    with pytest.raises(ValueError, match="init must be a flat"):
        nlp_interior_point(rosenbrock, disk, None, jnp.zeros((2, 1)), ROSENBROCK, m=1, p=0)


@pytest.mark.parametrize("module", [kkt, qp, nlp], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("rows", ["bounds", "mixed"])
def test_weighted_gram_of_bound_rows_is_their_diagonal(rows):
    """``G' diag(w) G`` with every row of ``G`` a bound (one non-zero; two rows on one column, a zero row) is
    formed on the diagonal; with one general row among them, densely; both equal the dense product."""
    from optdsl.runtime.solvers.interior_point.newton_step import single_entries, weighted_gram

    rng = np.random.default_rng(4)
    n = 40
    G = np.zeros((2 * n + 1, n))
    G[np.arange(2 * n), np.tile(np.arange(n), 2)] = rng.normal(size=2 * n)
    if rows == "mixed":
        G[-1] = rng.normal(size=n)
    w = rng.lognormal(size=2 * n + 1)
    entries = single_entries(jnp.asarray(G))
    assert bool(entries.single) == (rows == "bounds")
    got = jax.jit(weighted_gram)(jnp.asarray(G), jnp.asarray(w), entries)
    np.testing.assert_allclose(got, G.T @ (w[:, None] * G), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("path", ["cholesky", "lu"])
def test_condensed_solve_solves_the_step_system_by_either_factorisation(path, monkeypatch):
    """The condensed solve of a step system whose weights span twelve orders of magnitude, by its Cholesky factors
    or (the pivot test made to fail) its LU fallback, factorised within the call: alone and for two right-hand
    sides in one call, each solution satisfies the unregularised system; a caller's refinement that adds nothing
    gets the regularised solve itself, by the same factorisation."""
    from optdsl.runtime.solvers.interior_point import newton_step

    monkeypatch.setattr(newton_step, "CONDENSED_MIN_RCOND", 0.0 if path == "cholesky" else np.inf)
    rng = np.random.default_rng(8)
    n, p, m = 12, 3, 30
    M = rng.normal(size=(n, n))
    H, A, G = M @ M.T / n, rng.normal(size=(p, n)), rng.normal(size=(m, n))
    w = np.exp(rng.uniform(-6, 6, size=m) * np.log(10))
    rhs = [rng.normal(size=(2, k)) for k in (n, p, m)]
    data = tuple(jnp.asarray(v) for v in (H, A, G, w))
    reg = newton_step.regularisation(jnp.float64)

    def residual(dx, dnu, dlam, r1, r2, r3):
        return max(np.max(np.abs(H @ dx + A.T @ dnu + G.T @ dlam - r1)), np.max(np.abs(A @ dx - r2)),
                   np.max(np.abs(w * (G @ dx - r3) - dlam)) / np.max(w))

    one = jax.jit(lambda *r: newton_step.condensed_kkt_solve(*data, reg)(*r))
    both = jax.jit(jax.vmap(lambda *r: newton_step.condensed_kkt_solve(*data, reg)(*r)))
    plain = jax.jit(lambda *r: newton_step.condensed_kkt_solve(*data, reg, refined=lambda solve: solve)(*r))
    batched = [np.asarray(v) for v in both(*(jnp.asarray(r) for r in rhs))]
    for i in range(2):
        r = [v[i] for v in rhs]
        alone = [np.asarray(v) for v in one(*(jnp.asarray(v) for v in r))]
        assert residual(*alone, *r) < 1e-9
        for a, b in zip(alone, batched):
            np.testing.assert_allclose(b[i], a, rtol=1e-9, atol=1e-9)
        assert residual(*[np.asarray(v) for v in plain(*(jnp.asarray(v) for v in r))], *r) < 1e-5


def test_box_constrained_qp_matches_clarabel_and_its_gradient_matches_central_differences():
    """A dense convex QP with only bounds ``-1 <= x <= 1`` on 40 variables (its condensed matrix built on the
    diagonal): solution against Clarabel, gradient of ``w'x`` in ``q`` against central differences."""
    rng = np.random.default_rng(6)
    n = 40
    M = rng.normal(size=(n, n))
    Q, q = M @ M.T / n + 0.1 * np.eye(n), 2 * rng.normal(size=n)
    G, h = np.vstack([np.eye(n), -np.eye(n)]), np.ones(2 * n)
    A, b = np.zeros((0, n)), np.zeros(0)
    x = cp.Variable(n)
    cp.Problem(cp.Minimize(0.5 * cp.quad_form(x, cp.psd_wrap(Q)) + q @ x), [G @ x <= h]).solve(**CLARABEL_TIGHT)
    assert 0 < np.sum(np.isclose(np.abs(x.value), 1, atol=1e-6)) < n  # some bounds active, not all
    w = jnp.asarray(rng.normal(size=n))

    def loss(q):
        point, aux = solve_qp(jnp.asarray(Q), q, jnp.asarray(A), jnp.asarray(b), jnp.asarray(G), jnp.asarray(h))
        return w @ point.x, (point.x, aux.status)

    (_, (x_opt, code)), grad = jax.jit(jax.value_and_grad(loss, has_aux=True))(jnp.asarray(q))
    assert int(code) == status.SOLVED
    np.testing.assert_allclose(x_opt, x.value, atol=1e-7)
    d, eps = rng.normal(size=n), 1e-6
    fd = (loss(jnp.asarray(q + eps * d))[0] - loss(jnp.asarray(q - eps * d))[0]) / (2 * eps)
    np.testing.assert_allclose(float(grad @ d), float(fd), rtol=1e-6, atol=1e-8)
