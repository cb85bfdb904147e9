"""Tests for optdsl.runtime.projections.

One table drives the generic checks for every set: the output lies in the set,
it is the nearest point (variational inequality against random feasible points;
its Bregman form for KL projections), idempotence, JVP against central finite
differences, VJP/JVP consistency (reverse mode), jit and vmap, float32. Then
reference solvers (cvxpy + CLARABEL, numpy) for the sets computed iteratively.
"""

from __future__ import annotations

import doctest
import functools
import importlib
import pkgutil
import zlib
from dataclasses import dataclass
from typing import Callable, Tuple

import cvxpy as cp
import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from scipy.linalg import null_space
from scipy.optimize import linprog

from optdsl.runtime import projections as P

Tree = Tuple[np.ndarray, ...]


# --------------------------------------------------------------------------- numpy helpers


def _dot(a: Tree, b: Tree) -> float:
    return float(sum(np.vdot(np.asarray(x), np.asarray(y)) for x, y in zip(a, b)))


def _sub(a: Tree, b: Tree) -> Tree:
    return tuple(np.asarray(x) - np.asarray(y) for x, y in zip(a, b))


def _scale(t: Tree) -> float:
    return 1.0 + max(float(np.max(np.abs(x), initial=0.0)) for x in t)


def _sinkhorn_np(K: np.ndarray, a: np.ndarray, b: np.ndarray, iters: int = 5000) -> np.ndarray:
    """Plain-domain Sinkhorn scaling of a positive matrix K to marginals (a, b)."""
    u = np.ones_like(a)
    for _ in range(iters):
        v = b / (K.T @ u)
        u = a / (K @ v)
    return u[:, None] * K * v[None, :]


def _lp_vertices(rng, A_eq, b_eq, A_ub, b_ub, bounds, n, count=6):
    """Feasible points: vertices of random LPs over the set (clipped to a box) and their random mixtures."""
    vertices = []
    for _ in range(count):
        res = linprog(rng.normal(size=n), A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq, bounds=bounds, method="highs")
        assert res.status == 0
        vertices.append(res.x)
    vertices = np.array(vertices)
    weights = rng.dirichlet(np.ones(count), size=count)
    return list(vertices) + list(weights @ vertices)


def _exp_violation(r, s, t):
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        s_safe = np.where(s > 0, s, 1.0)
        inside = np.maximum(s * np.exp(np.minimum(r / s_safe, 700)) - t, 0.0)
    face = np.maximum(r, 0.0) + np.maximum(-t, 0.0)
    return float(np.max(np.maximum(-s, 0.0) + np.where(s > 1e-12, inside, face)))


def _exp_dual_violation(u, v, w):
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        u_safe = np.where(u < 0, u, -1.0)
        inside = np.maximum(-u * np.exp(np.minimum(v / u_safe, 700)) - np.e * w, 0.0)
    face = np.maximum(-v, 0.0) + np.maximum(-w, 0.0)
    return float(np.max(np.maximum(u, 0.0) + np.where(u < -1e-12, inside, face)))


def _power_violation(x, y, z, alpha, slack=0.0):
    """Violation of ``x^a y^(1 - a) >= |z|, x, y >= 0``, after moving ``x`` and ``y`` up by ``slack``.

    The slack certifies points whose ``x`` or ``y`` is below rounding: there ``x^a`` (``a`` small) turns an
    error of ``eps`` into one of ``eps^a``.
    """
    x, y = np.asarray(x) + slack, np.asarray(y) + slack
    mean = np.maximum(x, 0) ** alpha * np.maximum(y, 0) ** (1 - alpha)
    return float(np.max(np.maximum(np.maximum(-x, -y), np.abs(z) - mean)))


def _power_dual_violation(u, v, w, alpha, slack=0.0):
    return _power_violation(np.asarray(u) / alpha, np.asarray(v) / (1 - alpha), w, alpha, slack)


def _simplex_violation(p, value):
    return max(float(np.max(-p, initial=0.0)), float(np.max(np.abs(p.sum(-1) - value))))


# --------------------------------------------------------------------------- the table


def _one(fn):
    """Adapt ``fn(x, *params) -> array`` to the table's ``(point, params) -> point`` form."""
    return lambda point, params: (fn(*point, *params),)


def _euclidean_vi(point, params, p, z):
    return _dot(_sub(point, p), _sub(z, p))


def _identity_tangent(dpoint, dparams):
    return dpoint, dparams


@dataclass(frozen=True)
class Case:
    name: str
    project: Callable  # (point, params) -> projected point (tuples of arrays)
    sample: Callable  # rng -> (point, params)
    feasible: Callable  # (rng, params) -> list of feasible points
    violation: Callable  # (p, params) -> distance-like violation of membership
    convex: bool = True
    vi: Callable = _euclidean_vi  # <grad of mirror map at input minus at p, z - p>, <= 0 for a projection
    reinput: Callable = lambda p, params: p  # the input whose projection should be p again
    tangent: Callable = _identity_tangent  # restricts tangents to admissible directions
    fd_step: float = 1e-6
    fd_rtol: float = 1e-6
    kl: bool = False


N = 5


def _case_list():
    cases = []

    def vec(rng, scale=2.0):
        return rng.normal(size=N) * scale

    cases.append(Case(
        "non_negative", _one(P.projection_non_negative),
        lambda rng: ((vec(rng),), ()),
        lambda rng, pr: [(np.abs(rng.normal(size=N)) * rng.integers(0, 2, N),) for _ in range(12)],
        lambda p, pr: float(np.max(-p[0], initial=0.0)),
    ))

    def box_sample(rng):
        lower = rng.normal(size=N) - 1
        return (vec(rng),), (lower, lower + rng.uniform(0.5, 2.0, N))

    cases.append(Case(
        "box", _one(P.projection_box), box_sample,
        lambda rng, pr: [(rng.uniform(pr[0], pr[1]),) for _ in range(12)] + [(pr[0],), (pr[1],)],
        lambda p, pr: float(np.max(np.maximum(pr[0] - p[0], 0) + np.maximum(p[0] - pr[1], 0))),
    ))
    cases.append(Case(
        "hypercube", _one(P.projection_hypercube),
        lambda rng: ((vec(rng),), (np.array(rng.uniform(0.5, 2.0)),)),
        lambda rng, pr: [(rng.uniform(0, pr[0], N),) for _ in range(12)],
        lambda p, pr: float(np.max(np.maximum(-p[0], 0) + np.maximum(p[0] - pr[0], 0))),
    ))
    cases.append(Case(
        "simplex", _one(P.projection_simplex),
        lambda rng: ((vec(rng, 1.0),), (np.array(rng.uniform(0.5, 2.0)),)),
        lambda rng, pr: [(rng.dirichlet(np.full(N, 0.5)) * pr[0],) for _ in range(12)],
        lambda p, pr: _simplex_violation(p[0], pr[0]),
    ))

    def in_ball(rng, radius, norm):
        u = rng.normal(size=N)
        return u / norm(u) * radius * rng.uniform() ** (1 / N)

    l1 = lambda u: np.abs(u).sum(-1)
    l2 = lambda u: np.linalg.norm(u, axis=-1)
    radius_sample = lambda rng: ((vec(rng),), (np.array(rng.uniform(0.5, 2.0)),))
    cases.append(Case(
        "l1_ball", _one(P.projection_l1_ball), radius_sample,
        lambda rng, pr: [(in_ball(rng, pr[0], l1),) for _ in range(12)],
        lambda p, pr: max(float(l1(p[0]) - pr[0]), 0.0),
    ))
    cases.append(Case(
        "l2_ball", _one(P.projection_l2_ball), radius_sample,
        lambda rng, pr: [(in_ball(rng, pr[0], l2),) for _ in range(12)],
        lambda p, pr: max(float(l2(p[0]) - pr[0]), 0.0),
    ))
    cases.append(Case(
        "linf_ball", _one(P.projection_linf_ball), radius_sample,
        lambda rng, pr: [(rng.uniform(-pr[0], pr[0], N),) for _ in range(12)],
        lambda p, pr: max(float(np.max(np.abs(p[0])) - pr[0]), 0.0),
    ))
    cases.append(Case(
        "l2_sphere", _one(P.projection_l2_sphere), radius_sample,
        lambda rng, pr: [((lambda u: u / l2(u) * pr[0])(rng.normal(size=N)),) for _ in range(12)],
        lambda p, pr: abs(float(l2(p[0]) - pr[0])),
        convex=False,
    ))

    def plane_sample(rng):
        return (vec(rng),), (rng.normal(size=N), np.array(rng.normal()))

    def plane_points(rng, pr):
        a, b = pr
        return [((lambda u: u - (a @ u - b) / (a @ a) * a)(rng.normal(size=N) * 2),) for _ in range(12)]

    def half_points(rng, pr):
        a, b = pr
        return [((lambda u: u - max(a @ u - b + rng.uniform(), 0) / (a @ a) * a)(rng.normal(size=N) * 2),)
                for _ in range(12)]

    cases.append(Case(
        "hyperplane", _one(P.projection_hyperplane), plane_sample, plane_points,
        lambda p, pr: abs(float(pr[0] @ p[0] - pr[1])),
    ))
    cases.append(Case(
        "halfspace", _one(P.projection_halfspace), plane_sample, half_points,
        lambda p, pr: max(float(pr[0] @ p[0] - pr[1]), 0.0),
    ))

    def affine_points(rng, pr):
        A, b = pr
        base = np.linalg.lstsq(A, b, rcond=None)[0]
        basis = null_space(A)
        return [(base + basis @ rng.normal(size=basis.shape[1]) * 2,) for _ in range(12)]

    cases.append(Case(
        "affine_set", _one(P.projection_affine_set),
        lambda rng: ((vec(rng),), (rng.normal(size=(2, N)), rng.normal(size=2))),
        affine_points,
        lambda p, pr: float(np.max(np.abs(pr[0] @ p[0] - pr[1]))),
    ))

    def section_sample(rng):
        alpha, beta = -rng.uniform(0.5, 1.5, N), rng.uniform(0.5, 1.5, N)
        w = rng.normal(size=N)
        return (vec(rng),), (alpha, beta, w, np.array(w @ rng.uniform(alpha, beta)))

    def section_points(rng, pr):
        alpha, beta, w, c = pr
        return [(z,) for z in _lp_vertices(rng, w[None], [c], None, None, list(zip(alpha, beta)), N)]

    def section_violation(p, pr):
        alpha, beta, w, c = pr
        return max(float(np.max(np.maximum(alpha - p[0], 0) + np.maximum(p[0] - beta, 0))), abs(float(w @ p[0] - c)))

    cases.append(Case(
        "box_section", _one(P.projection_box_section), section_sample, section_points, section_violation,
        fd_step=1e-5,
    ))

    def poly_sample(rng):
        z0 = rng.normal(size=N)
        A, G = rng.normal(size=(2, N)), rng.normal(size=(4, N))
        return (vec(rng, 3.0),), (A, A @ z0, G, G @ z0 + rng.uniform(0.1, 1.0, 4))

    def poly_points(rng, pr):
        A, b, G, h = pr
        return [(z,) for z in _lp_vertices(rng, A, b, G, h, [(-20, 20)] * N, N)]

    def poly_violation(p, pr):
        A, b, G, h = pr
        return max(float(np.max(np.abs(A @ p[0] - b))), float(np.max(np.maximum(G @ p[0] - h, 0))))

    cases.append(Case(
        "polyhedron", _one(P.projection_polyhedron), poly_sample, poly_points, poly_violation, fd_step=1e-5,
    ))

    def soc_points(rng, pr):
        out = []
        for k in range(12):
            x = rng.normal(size=N - 1)
            out.append((np.array(np.linalg.norm(x) + rng.uniform() * (k % 2)), x))
        return out

    cases.append(Case(
        "second_order_cone", lambda pt, pr: P.projection_second_order_cone(*pt),
        lambda rng: ((np.array(rng.normal() * 2), rng.normal(size=N - 1) * 2), ()),
        soc_points,
        lambda p, pr: max(float(np.linalg.norm(p[1]) - p[0]), 0.0),
    ))

    def psd_points(rng, pr):
        out = []
        for k in range(12):
            B = rng.normal(size=(4, 1 + k % 4))
            out.append((B @ B.T,))
        return out

    def psd_violation(p, pr):
        X = p[0]
        return max(float(np.max(np.abs(X - X.T))), max(-float(np.linalg.eigvalsh(0.5 * (X + X.T)).min()), 0.0))

    cases.append(Case(
        "psd_cone", _one(P.projection_psd_cone),
        lambda rng: ((rng.normal(size=(4, 4)) * 2,), ()),
        psd_points, psd_violation,
    ))

    def exp_sample(rng):
        return (rng.normal(size=4) * 2, rng.normal(size=4) * 2, rng.normal(size=4) * 2), ()

    def exp_points(rng, pr):
        out = []
        for k in range(12):
            s = rng.uniform(0.2, 2.0, 4)
            r = rng.normal(size=4)
            out.append((r, s, s * np.exp(r / s) + rng.uniform(size=4) * (k % 2)))
        out.append((-np.abs(rng.normal(size=4)), np.zeros(4), np.abs(rng.normal(size=4))))
        return out

    def exp_dual_points(rng, pr):
        out = []
        for k in range(12):
            u = -rng.uniform(0.2, 2.0, 4)
            v = rng.normal(size=4)
            out.append((u, v, -u * np.exp(v / u) / np.e + rng.uniform(size=4) * (k % 2)))
        out.append((np.zeros(4), np.abs(rng.normal(size=4)), np.abs(rng.normal(size=4))))
        return out

    cases.append(Case(
        "exp_cone", lambda pt, pr: P.projection_exp_cone(*pt), exp_sample, exp_points,
        lambda p, pr: _exp_violation(*p),
    ))
    cases.append(Case(
        "exp_cone_dual", lambda pt, pr: P.projection_exp_cone_dual(*pt), exp_sample, exp_dual_points,
        lambda p, pr: _exp_dual_violation(*p),
    ))
    def power_sample(rng):
        return (rng.normal(size=4) * 2, rng.normal(size=4) * 2, rng.normal(size=4) * 2), (rng.uniform(0.2, 0.8, 4),)

    def power_points(rng, pr, dual=False):
        (alpha,) = pr
        out = []
        for k in range(12):
            x, y = rng.uniform(0.2, 2.0, (2, 4))
            bound = (x / alpha) ** alpha * (y / (1 - alpha)) ** (1 - alpha) if dual else x ** alpha * y ** (1 - alpha)
            out.append((x, y, bound * rng.uniform(-1, 1, 4) ** (k % 2)))
        out.append((np.abs(rng.normal(size=4)), np.zeros(4), np.zeros(4)))
        return out

    cases.append(Case(
        "power_cone", lambda pt, pr: P.projection_power_cone(*pt, *pr), power_sample, power_points,
        lambda p, pr: _power_violation(*p, *pr),
    ))
    cases.append(Case(
        "power_cone_dual", lambda pt, pr: P.projection_power_cone_dual(*pt, *pr), power_sample,
        functools.partial(power_points, dual=True), lambda p, pr: _power_dual_violation(*p, *pr),
    ))
    cases.append(Case(
        "zero", _one(P.projection_zero), lambda rng: ((vec(rng),), ()),
        lambda rng, pr: [(np.zeros(N),)],
        lambda p, pr: float(np.max(np.abs(p[0]))),
    ))
    cases.append(Case(
        "free", _one(P.projection_free), lambda rng: ((vec(rng),), ()),
        lambda rng, pr: [(rng.normal(size=N) * 3,) for _ in range(12)],
        lambda p, pr: 0.0,
    ))

    cases.append(Case(
        "kl_simplex", _one(P.kl_projection_simplex),
        lambda rng: ((vec(rng, 1.0),), (np.array(rng.uniform(0.5, 2.0)),)),
        lambda rng, pr: [(rng.dirichlet(np.full(N, 0.5)) * pr[0],) for _ in range(12)],
        lambda p, pr: _simplex_violation(p[0], pr[0]),
        vi=lambda pt, pr, p, z: _dot((pt[0] - np.log(p[0]),), _sub(z, p)),
        reinput=lambda p, pr: (np.log(p[0]),),
        kl=True,
    ))

    def zero_sum(v):
        return v - v.mean()

    def transport_sample(rng):
        n, m = 4, 3
        return (rng.uniform(0, 1, (n, m)),), (rng.dirichlet(np.ones(n) * 2), rng.dirichlet(np.ones(m) * 2),
                                             np.array(rng.uniform(0.3, 1.0)))

    def transport_points(rng, pr):
        a, b = pr[0], pr[1]
        return [(_sinkhorn_np(rng.uniform(0.05, 1.0, (a.size, b.size)) ** 3, a, b),) for _ in range(8)]

    def transport_violation(p, pr):
        a, b = pr[0], pr[1]
        X = p[0]
        return max(float(np.max(-X, initial=0)), float(np.max(np.abs(X.sum(1) - a))),
                   float(np.max(np.abs(X.sum(0) - b))))

    cases.append(Case(
        "kl_transport", _one(P.kl_projection_transport), transport_sample, transport_points, transport_violation,
        vi=lambda pt, pr, p, z: _dot((-pt[0] / pr[2] - np.log(p[0]),), _sub(z, p)),
        reinput=lambda p, pr: (-pr[2] * np.log(p[0]),),
        tangent=lambda dpt, dpr: (dpt, (zero_sum(dpr[0]), zero_sum(dpr[1]), dpr[2])),
        kl=True, fd_step=1e-5,
    ))
    cases.append(Case(
        "kl_birkhoff", _one(P.kl_projection_birkhoff),
        lambda rng: ((rng.uniform(0, 1, (4, 4)),), (np.array(rng.uniform(0.3, 1.0)),)),
        lambda rng, pr: [(_sinkhorn_np(rng.uniform(0.05, 1.0, (4, 4)) ** 3, np.ones(4), np.ones(4)),)
                         for _ in range(8)],
        lambda p, pr: transport_violation(p, (np.ones(4), np.ones(4))),
        vi=lambda pt, pr, p, z: _dot((-pt[0] / pr[0] - np.log(p[0]),), _sub(z, p)),
        reinput=lambda p, pr: (-pr[0] * np.log(p[0]),),
        kl=True, fd_step=1e-5,
    ))
    return cases


CASES = _case_list()
IDS = [c.name for c in CASES]


def _seed(case: Case) -> int:
    return zlib.crc32(case.name.encode())


@functools.lru_cache(maxsize=None)
def _jitted(case: Case) -> Callable:
    return jax.jit(case.project)


@functools.lru_cache(maxsize=None)
def _jitted_jvp(case: Case) -> Callable:
    return jax.jit(lambda primals, tangents: jax.jvp(case.project, primals, tangents))


def _run(case: Case, point, params) -> Tree:
    """The projection under jit (compiled once per case; the eager path is checked in the jit/vmap test)."""
    return tuple(np.asarray(v) for v in _jitted(case)(tuple(map(jnp.asarray, point)), tuple(map(jnp.asarray, params))))


def test_catalogue_has_at_least_18_sets():
    euclidean = [c for c in CASES if not c.kl]
    assert len(euclidean) >= 18 and len(CASES) >= 21


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_in_set_nearest_and_idempotent(case: Case):
    rng = np.random.default_rng(_seed(case))
    for _ in range(3):
        point, params = case.sample(rng)
        p = _run(case, point, params)
        assert case.violation(p, params) <= 1e-9 * _scale(point)
        feasible = case.feasible(rng, params)
        assert all(case.violation(z, params) <= 1e-8 * _scale(z) for z in feasible)
        for z in feasible:
            if case.convex:
                assert case.vi(point, params, p, z) <= 1e-8 * _scale(point) ** 2
            if not case.kl:  # nearest point, also for the non-convex sphere
                assert np.sqrt(_dot(_sub(point, p), _sub(point, p))) <= np.sqrt(_dot(_sub(point, z), _sub(point, z))) + 1e-9
        again = _run(case, case.reinput(p, params), params)
        for u, v in zip(again, p):
            np.testing.assert_allclose(u, v, rtol=1e-9, atol=1e-9 * _scale(p))


def _random_tangent(rng, case: Case, point, params):
    dpoint = tuple(rng.normal(size=np.shape(v)) for v in point)
    dparams = tuple(rng.normal(size=np.shape(v)) for v in params)
    return case.tangent(dpoint, dparams)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jvp_matches_central_differences_and_vjp(case: Case):
    rng = np.random.default_rng(1 + _seed(case))
    point, params = case.sample(rng)
    dpoint, dparams = _random_tangent(rng, case, point, params)
    f = case.project
    primals = (tuple(map(jnp.asarray, point)), tuple(map(jnp.asarray, params)))
    tangents = (tuple(map(jnp.asarray, dpoint)), tuple(map(jnp.asarray, dparams)))
    out, jvp = _jitted_jvp(case)(primals, tangents)
    h = case.fd_step
    shifted = lambda sign: _run(case, tuple(x + sign * h * d for x, d in zip(point, dpoint)),
                                tuple(x + sign * h * d for x, d in zip(params, dparams)))
    fd = tuple((u - v) / (2 * h) for u, v in zip(shifted(1), shifted(-1)))
    for j, d in zip(jvp, fd):
        assert np.all(np.isfinite(np.asarray(j)))
        np.testing.assert_allclose(np.asarray(j), d, rtol=case.fd_rtol, atol=case.fd_rtol * _scale(fd))
    # Reverse mode is the transpose of forward mode: <u, J v> = <J^T u, v>.
    cotangent = tuple(jnp.asarray(rng.normal(size=np.shape(v))) for v in out)
    back = jax.tree_util.tree_leaves(jax.jit(lambda p, u: jax.vjp(f, *p)[1](u))(primals, cotangent))
    lhs = _dot(tuple(map(np.asarray, cotangent)), tuple(map(np.asarray, jvp)))
    rhs = _dot(tuple(map(np.asarray, back)), tuple(map(np.asarray, jax.tree_util.tree_leaves(tangents))))
    assert abs(lhs - rhs) <= 1e-9 * (1 + abs(lhs))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jit_and_vmap_agree_with_eager_values_and_jvps(case: Case):
    rng = np.random.default_rng(2 + _seed(case))
    samples = [case.sample(rng) for _ in range(3)]
    tangents = [_random_tangent(rng, case, *sample) for sample in samples]
    as_jax = lambda tree: tuple(map(jnp.asarray, tree))
    stack = lambda trees: tuple(jnp.asarray(np.stack(leaves)) for leaves in zip(*trees))
    points, params = stack([s[0] for s in samples]), stack([s[1] for s in samples])
    dpoints, dparams = stack([t[0] for t in tangents]), stack([t[1] for t in tangents])
    batched, batched_jvp = jax.jit(jax.vmap(lambda *a: jax.jvp(case.project, a[:2], a[2:])))(
        points, params, dpoints, dparams)
    eager = tuple(np.asarray(v) for v in case.project(as_jax(samples[0][0]), as_jax(samples[0][1])))
    np.testing.assert_allclose(np.concatenate([np.ravel(v) for v in _run(case, *samples[0])]),
                               np.concatenate([np.ravel(v) for v in eager]), rtol=1e-10, atol=1e-10 * _scale(eager))
    for k, (sample, tangent) in enumerate(zip(samples, tangents)):
        single, single_jvp = _jitted_jvp(case)(tuple(map(as_jax, sample)), tuple(map(as_jax, tangent)))
        for u, v in zip(batched + batched_jvp, single + single_jvp):
            v = np.asarray(v)
            np.testing.assert_allclose(np.asarray(u)[k], v, rtol=1e-9, atol=1e-9 * _scale((v,)))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float32_keeps_dtype_and_accuracy(case: Case):
    rng = np.random.default_rng(3 + _seed(case))
    point, params = case.sample(rng)
    as32 = lambda t: tuple(jnp.asarray(v, jnp.float32) for v in t)
    out = jax.jit(case.project)(as32(point), as32(params))
    assert all(v.dtype == jnp.float32 for v in out)
    reference = _run(case, point, params)
    for u, v in zip(out, reference):
        np.testing.assert_allclose(np.asarray(u, np.float64), v, rtol=1e-3, atol=1e-3 * _scale(reference))


# --------------------------------------------------------------------------- references and special cases


def _cvxpy_projection(v, constraints_of):
    y = cp.Variable(v.shape)
    problem = cp.Problem(cp.Minimize(cp.sum_squares(y - v)), constraints_of(y))
    problem.solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    assert problem.status == "optimal"
    return y.value


def test_polyhedron_matches_cvxpy_and_handles_empty_blocks():
    rng = np.random.default_rng(10)
    project = jax.jit(P.projection_polyhedron)
    for p_rows, m_rows in ((2, 4), (0, 6), (3, 0)):
        z0 = rng.normal(size=N)
        A, G = rng.normal(size=(p_rows, N)), rng.normal(size=(m_rows, N))
        b, h = A @ z0, G @ z0 + rng.uniform(0.1, 1.0, m_rows)
        x = rng.normal(size=N) * 3
        cons = lambda y: ([A @ y == b] if p_rows else []) + ([G @ y <= h] if m_rows else [])
        np.testing.assert_allclose(project(x, A, b, G, h), _cvxpy_projection(x, cons), atol=1e-6)


def test_box_section_matches_cvxpy():
    rng = np.random.default_rng(11)
    project = jax.jit(P.projection_box_section)
    for _ in range(3):
        alpha, beta, w = -rng.uniform(0.5, 1.5, 7), rng.uniform(0.5, 1.5, 7), rng.normal(size=7)
        c = w @ rng.uniform(alpha, beta)
        x = rng.normal(size=7) * 2
        ref = _cvxpy_projection(x, lambda y: [y >= alpha, y <= beta, w @ y == c])
        np.testing.assert_allclose(project(x, alpha, beta, w, c), ref, atol=1e-6)


def _exp_test_points(rng):
    """Points in each of the four regimes, at several scales, plus the origin."""
    s = rng.uniform(0.2, 2.0, 6)
    r = rng.normal(size=6)
    inside = np.stack([r, s, s * np.exp(r / s) + 0.5], 1)
    u = -rng.uniform(0.2, 2.0, 6)
    v = rng.normal(size=6)
    polar = -np.stack([u, v, -u * np.exp(v / u) / np.e + 0.5], 1)
    corner = np.stack([-rng.uniform(0, 2, 6), -rng.uniform(0, 2, 6), rng.normal(size=6)], 1)
    generic = rng.normal(size=(24, 3)) * rng.choice([1e-2, 1.0, 30.0], size=(24, 1))
    return np.concatenate([inside, polar, corner, generic, np.zeros((1, 3))])


def test_exp_cone_all_regimes_certified_and_match_cvxpy():
    rng = np.random.default_rng(12)
    V = _exp_test_points(rng)
    project = jax.jit(lambda v: jnp.stack(P.projection_exp_cone(v[:, 0], v[:, 1], v[:, 2]), 1))
    project_dual = jax.jit(lambda v: jnp.stack(P.projection_exp_cone_dual(v[:, 0], v[:, 1], v[:, 2]), 1))
    Pv = np.asarray(project(V))
    np.testing.assert_array_equal(Pv[:6], V[:6])  # already in K
    np.testing.assert_array_equal(Pv[6:12], 0.0)  # in the polar cone
    np.testing.assert_array_equal(Pv[-1], 0.0)  # origin
    for v, p in zip(V, Pv):
        scale = 1 + np.abs(v).max()
        # Optimality certificate: p in K, p - v in K*, <p, p - v> = 0.
        assert _exp_violation(*p) <= 1e-10 * scale
        assert _exp_dual_violation(*(p - v)) <= 1e-10 * scale
        assert abs(p @ (p - v)) <= 1e-10 * scale**2
    for v, p in zip(V[18:32], Pv[18:32]):
        ref = _cvxpy_projection(v, lambda y: [cp.constraints.ExpCone(y[0], y[1], y[2])])
        # As close as the interior-point reference (up to its own feasibility error), and equal to it.
        assert np.linalg.norm(p - v) <= np.linalg.norm(ref - v) + 1e-8 * (1 + np.abs(v).max())
        np.testing.assert_allclose(p, ref, atol=1e-5 * (1 + np.abs(v).max()))
    # Moreau: v = P_K(v) - P_{K*}(-v).
    np.testing.assert_allclose(Pv - np.asarray(project_dual(-V)), V, atol=1e-12 * (1 + np.abs(V).max()))


@mpmath.workdps(60)
def _exp_projection_mp(v) -> np.ndarray | None:
    """Exponential-cone projection in 60-digit arithmetic: bisection on the boundary equation.

    None when the root lies beyond |rho| = 60, where 60 digits cannot resolve it.
    """
    r, s, t = (mpmath.mpf(float(x)) for x in v)
    if (s > 0 and s * mpmath.exp(r / s) <= t) or (s == 0 and r <= 0 and t >= 0):
        return np.array(v, float)
    if (r > 0 and r * mpmath.exp(s / r) <= -mpmath.e * t) or (r == 0 and s <= 0 and t <= 0):
        return np.zeros(3)
    if r <= 0 and s <= 0:
        return np.array([float(r), 0.0, float(max(t, 0))])
    f = lambda q: mpmath.exp(q) * ((q - 1) * r + s) - mpmath.exp(-q) * (r - q * s) - t * (q * q - q + 1)  # noqa: E731
    lo = 1 - s / r if r > 0 else r / s - 1
    hi = r / s if s > 0 else lo + 1
    width = 1
    while f(lo) > 0 or f(hi) < 0:
        lo, hi, width = (lo - width if f(lo) > 0 else lo), (hi + width if f(hi) < 0 else hi), 2 * width
    if max(abs(lo), abs(hi)) > 60:
        return None
    for _ in range(400):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
    sigma = max((lo - 1) * r + s, 0) / (lo * lo - lo + 1)
    return np.array([float(lo * sigma), float(sigma), float(mpmath.exp(lo) * sigma)])


def test_exp_cone_accurate_across_nine_decades():
    """Coordinates over 1e-5..1e4 with either sign, where the boundary root ``rho = r'/s'`` reaches 1e9
    in magnitude (exp overflows, sigma underflows, sigma's numerator cancels): equal to a 60-digit
    reference where one exists, certified by the optimality conditions elsewhere."""
    rng = np.random.default_rng(21)
    V = rng.choice([-1.0, 1.0], size=(1500, 3)) * 10.0 ** rng.uniform(-5, 4, size=(1500, 3))
    V[:3] = [(8.549e-05, -0.11313848, 0.0950225), (2.77111209e-4, 1.44167019, -0.126059554),
             (5.19689109, 7.28289462e-4, 1.16989795)]
    project = lambda v: jnp.stack(P.projection_exp_cone(v[..., 0], v[..., 1], v[..., 2]), -1)  # noqa: E731
    Pv = np.asarray(jax.jit(project)(V))
    assert np.all(np.isfinite(Pv))
    certified = 0
    for v, p in zip(V, Pv):
        scale = 1 + np.abs(v).max()
        ref = _exp_projection_mp(v)
        if ref is not None:
            np.testing.assert_allclose(p, ref, rtol=0, atol=1e-12 * scale, err_msg=str(v))
            continue
        certified += 1
        assert _exp_violation(*p) <= 1e-10 * scale, v
        assert _exp_dual_violation(*(p - v)) <= 1e-10 * scale, v
        assert abs(p @ (p - v)) <= 1e-10 * scale**2, v
    assert 100 < certified < 1000
    # Derivatives: JVPs agree with central differences along coordinate-scaled directions, and
    # float32 gradients stay finite (no overflowing branch leaks inf * 0 into them).
    D = rng.normal(size=V.shape) * np.abs(V)
    _, jvps = jax.jit(jax.vmap(lambda v, d: jax.jvp(project, (v,), (d,))))(V, D)
    h = 1e-5
    fd = (np.asarray(jax.jit(project)(V + h * D)) - np.asarray(jax.jit(project)(V - h * D))) / (2 * h)
    assert np.all(np.abs(jvps - fd) <= 1e-7 * (np.abs(fd) + np.abs(V)).max(1, keepdims=True))
    grads = jax.jit(jax.vmap(jax.grad(lambda v: jnp.sum(project(v) ** 2))))(jnp.asarray(V, jnp.float32))
    assert np.all(np.isfinite(np.asarray(grads)))


POWER_ALPHAS = (0.15, 0.5, 0.85)


def _power_test_points(rng, alpha):
    """Points in each regime: inside ``K``, in the polar ``-K*``, on the face ``z = 0``, generic at several
    scales, and the origin."""
    x, y = rng.uniform(0.2, 2.0, (2, 6))
    inside = np.stack([x, y, x ** alpha * y ** (1 - alpha) * rng.uniform(-1, 1, 6)], 1)
    u, v = rng.uniform(0.2, 2.0, (2, 6))
    polar = -np.stack([u, v, (u / alpha) ** alpha * (v / (1 - alpha)) ** (1 - alpha) * rng.uniform(-1, 1, 6)], 1)
    a, b = rng.uniform(0.2, 2.0, (2, 6))
    face = np.stack([a * [-1, 1, -1, 1, -1, 1], b * [1, -1, 1, -1, 1, -1], np.zeros(6)], 1)
    generic = rng.normal(size=(30, 3)) * rng.choice([1e-2, 1.0, 30.0], size=(30, 1))
    return np.concatenate([inside, polar, face, generic, np.zeros((1, 3))])


def _power_certified(v, p, alpha, tol):
    """The optimality conditions of ``p = P_K(v)``: ``p in K``, ``p - v in K*``, ``<p, p - v> = 0``, to ``tol``."""
    scale = 1 + np.abs(v).max()
    slack = tol * scale
    assert _power_violation(*p, alpha, slack) <= 0, (v, p)
    assert _power_dual_violation(*(p - v), alpha, slack) <= 0, (v, p)
    assert abs(p @ (p - v)) <= tol * scale ** 2, (v, p)


@pytest.mark.parametrize("alpha", [a if a == 0.5 else pytest.param(a, marks=pytest.mark.slow) for a in POWER_ALPHAS])
def test_power_cone_all_regimes_certified_and_match_cvxpy(alpha):
    rng = np.random.default_rng(int(alpha * 100))
    V = _power_test_points(rng, alpha)
    project = jax.jit(lambda v: jnp.stack(P.projection_power_cone(v[:, 0], v[:, 1], v[:, 2], alpha), 1))
    project_dual = jax.jit(lambda v: jnp.stack(P.projection_power_cone_dual(v[:, 0], v[:, 1], v[:, 2], alpha), 1))
    Pv = np.asarray(project(V))
    np.testing.assert_array_equal(Pv[:6], V[:6])  # already in K
    np.testing.assert_array_equal(Pv[6:12], 0.0)  # in the polar cone
    np.testing.assert_array_equal(Pv[12:18], np.maximum(V[12:18], 0.0))  # the face z = 0
    np.testing.assert_array_equal(Pv[-1], 0.0)  # origin
    for v, p in zip(V, Pv):
        _power_certified(v, p, alpha, 1e-12)
    for v, p in zip(V[12:48], Pv[12:48]):
        ref = _cvxpy_projection(v, lambda y: [cp.PowCone3D(y[0], y[1], y[2], alpha)])
        # As close as the interior-point reference (up to its own feasibility error), and equal to it.
        assert np.linalg.norm(p - v) <= np.linalg.norm(ref - v) + 1e-8 * (1 + np.abs(v).max())
        np.testing.assert_allclose(p, ref, atol=1e-5 * (1 + np.abs(v).max()))
    # Moreau: v = P_K(v) - P_{K*}(-v), and P_{K*} certified through the same conditions.
    Pd = np.asarray(project_dual(-V))
    np.testing.assert_allclose(Pv - Pd, V, atol=1e-12 * (1 + np.abs(V).max()))
    for v, d in zip(V, Pd):
        assert _power_dual_violation(*d, alpha, 1e-12 * (1 + np.abs(v).max())) <= 0


@mpmath.workdps(60)
def _power_projection_mp(v, alpha) -> np.ndarray:
    """Power-cone projection in 60-digit arithmetic: bisection on Hien's boundary equation in ``r = |z'|``."""
    a = mpmath.mpf(alpha)
    x, y, z = (mpmath.mpf(float(c)) for c in v)
    if x >= 0 and y >= 0 and x ** a * y ** (1 - a) >= abs(z):
        return np.array(v, float)
    if x <= 0 and y <= 0 and (-x / a) ** a * (-y / (1 - a)) ** (1 - a) >= abs(z):
        return np.zeros(3)

    def boundary(r):
        px = (x + mpmath.sqrt(x * x + 4 * a * r * (abs(z) - r))) / 2
        py = (y + mpmath.sqrt(y * y + 4 * (1 - a) * r * (abs(z) - r))) / 2
        return px, py

    lo, hi = mpmath.mpf(0), abs(z)
    for _ in range(220):
        mid = (lo + hi) / 2
        px, py = boundary(mid)
        lo, hi = (mid, hi) if px ** a * py ** (1 - a) > mid else (lo, mid)
    px, py = boundary(lo)
    return np.array([float(px), float(py), float(mpmath.sign(z) * lo)])


def test_power_cone_accurate_across_seven_decades():
    """Coordinates over 1e-4..1e3 with either sign: equal to a 60-digit reference to 1e-12 of the point's
    size; JVPs (also in alpha) agree with central differences along coordinate-scaled directions."""
    rng = np.random.default_rng(22)
    V = rng.choice([-1.0, 1.0], size=(120, 3)) * 10.0 ** rng.uniform(-4, 3, size=(120, 3))
    alpha = rng.choice(POWER_ALPHAS, 120)
    project = lambda v, a: jnp.stack(P.projection_power_cone(v[..., 0], v[..., 1], v[..., 2], a), -1)  # noqa: E731
    Pv = np.asarray(jax.jit(project)(V, alpha))
    for v, a, p in zip(V, alpha, Pv):
        np.testing.assert_allclose(p, _power_projection_mp(v, a), rtol=0, atol=1e-12 * np.abs(v).max(), err_msg=str(v))
    D, Da = rng.normal(size=V.shape) * np.abs(V), rng.normal(size=alpha.shape) * 0.05
    _, jvps = jax.jit(jax.vmap(lambda v, a, d, da: jax.jvp(project, (v, a), (d, da))))(V, alpha, D, Da)
    h = 1e-6
    fd = (np.asarray(jax.jit(project)(V + h * D, alpha + h * Da))
          - np.asarray(jax.jit(project)(V - h * D, alpha - h * Da))) / (2 * h)
    assert np.all(np.abs(jvps - fd) <= 1e-6 * (np.abs(fd) + np.abs(V)).max(1, keepdims=True))


@pytest.mark.parametrize("alpha", (pytest.param(0.25, marks=pytest.mark.slow), 0.5,
                                   pytest.param(0.75, marks=pytest.mark.slow)))
def test_power_cone_derivatives_are_finite_at_kinks_and_exact_on_the_face(alpha):
    """On the face ``z = 0`` (``x``, ``y`` of opposite signs) the projection is differentiable: the JVP is the
    limit of the boundary branch (``dz'/dz`` is 1, 0 or ``y / (y - 2 x)`` as ``alpha`` is below, above or at
    1/2 for ``x < 0 < y``), equal to central differences. At the origin, on the cones' boundaries and on the
    axes -- kinks -- forward and reverse mode give one finite Jacobian."""
    project = lambda v: jnp.stack(P.projection_power_cone(v[0], v[1], v[2], alpha))  # noqa: E731
    jitted, jacfwd, jacrev = jax.jit(project), jax.jit(jax.jacfwd(project)), jax.jit(jax.jacrev(project))
    h = 1e-6
    for v in ([-1.0, 2.0, 0.0], [2.0, -1.0, 0.0], [-0.5, 3.0, 0.0]):
        v = np.array(v)
        fd = np.stack([np.asarray(jitted(v + h * e)) - np.asarray(jitted(v - h * e)) for e in np.eye(3)], 1) / (2 * h)
        np.testing.assert_allclose(jacfwd(v), fd, atol=1e-8)
    mean = lambda x, y: x ** alpha * y ** (1 - alpha)  # noqa: E731
    kinks = [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0],
             [1.0, 2.0, mean(1.0, 2.0)], [-alpha, -(1 - alpha), -1.0], [-0.5, -0.5, 0.0]]
    for v in kinks:
        forward, reverse = np.asarray(jacfwd(jnp.asarray(v))), np.asarray(jacrev(jnp.asarray(v)))
        assert np.all(np.isfinite(forward)), v
        np.testing.assert_allclose(forward, reverse, rtol=1e-12, atol=1e-12, err_msg=str(v))
    # Near the face and at extreme scales the boundary point's coordinates span hundreds of decades.
    extreme = [[-1.0, 2.0, 1e-16], [2.0, -1.0, 1e-16], [-1.0, 2.0, 1e-200], [1e150, 1.0, 1e149],
               [-1e-200, 2e-200, 1e-200]]
    for v in map(np.array, extreme):
        _power_certified(v, np.asarray(jitted(v)), alpha, 1e-12)
        assert np.all(np.isfinite(np.asarray(jacfwd(v)))), v


def test_power_cone_arguments_are_checked():
    with pytest.raises(ValueError, match="x, y, z"):
        P.projection_power_cone(jnp.ones(2), jnp.ones(3), jnp.ones(2), 0.5)
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1\)"):
        P.projection_power_cone(1.0, 1.0, 1.0, 1.5)
    with pytest.raises(ValueError, match="alpha of shape"):
        P.projection_power_cone_dual(jnp.ones(2), jnp.ones(2), jnp.ones(2), jnp.full(3, 0.5))


def test_psd_cone_matches_eigen_reference_and_handles_repeated_eigenvalues():
    rng = np.random.default_rng(13)
    X = rng.normal(size=(5, 5))
    w, V = np.linalg.eigh(0.5 * (X + X.T))
    np.testing.assert_allclose(P.projection_psd_cone(X), V @ np.diag(np.maximum(w, 0)) @ V.T, atol=1e-12)
    Q = np.linalg.qr(rng.normal(size=(4, 4)))[0]
    repeated = Q @ np.diag([2.0, 2.0, -1.0, -1.0]) @ Q.T
    dX = rng.normal(size=(4, 4))
    _, jvp = jax.jvp(P.projection_psd_cone, (jnp.asarray(repeated),), (jnp.asarray(dX),))
    h = 1e-6
    fd = (np.asarray(P.projection_psd_cone(repeated + h * dX)) - np.asarray(P.projection_psd_cone(repeated - h * dX))) / (2 * h)
    np.testing.assert_allclose(jvp, fd, atol=1e-7)
    grad = jax.grad(lambda Y: jnp.sum(P.projection_psd_cone(Y) ** 3))(jnp.asarray(Q @ np.diag([1.0, 1.0, 0.0, 0.0]) @ Q.T))
    assert np.all(np.isfinite(grad))


def test_transport_matches_numpy_sinkhorn():
    rng = np.random.default_rng(14)
    cost = rng.uniform(0, 1, (5, 3))
    a, b, eps = rng.dirichlet(np.ones(5)), rng.dirichlet(np.ones(3)), 0.4
    ref = _sinkhorn_np(np.exp(-cost / eps), a, b)
    np.testing.assert_allclose(P.kl_projection_transport(cost, a, b, eps), ref, atol=1e-11)
    np.testing.assert_allclose(P.kl_projection_simplex(np.log(np.array([1.0, 2.0, 5.0]))), [0.125, 0.25, 0.625], atol=1e-15)


ROWWISE = [
    ("simplex", lambda x: P.projection_simplex(x, 1.5)),
    ("l1_ball", lambda x: P.projection_l1_ball(x, 1.5)),
    ("l2_ball", lambda x: P.projection_l2_ball(x, 1.5)),
    ("l2_sphere", lambda x: P.projection_l2_sphere(x, 1.5)),
    ("hyperplane", lambda x: P.projection_hyperplane(x, jnp.arange(1.0, N + 1), 1.0)),
    ("halfspace", lambda x: P.projection_halfspace(x, jnp.arange(1.0, N + 1), 1.0)),
    ("affine_set", lambda x: P.projection_affine_set(x, jnp.eye(2, N) + 0.5, jnp.ones(2))),
    ("box_section", lambda x: P.projection_box_section(x, -1.0, 1.0, jnp.arange(1.0, N + 1), 1.0)),
    ("polyhedron", lambda x: P.projection_polyhedron(x, jnp.ones((1, N)), jnp.ones(1), jnp.eye(N), 0.5 * jnp.ones(N))),
    ("kl_simplex", lambda x: P.kl_projection_simplex(x, 1.5)),
    ("second_order_cone", lambda x: jnp.concatenate(
        [a.reshape(x.shape[:-1] + (-1,)) for a in P.projection_second_order_cone(x[..., 0], x[..., 1:])], -1)),
]


@pytest.mark.parametrize("name, project", ROWWISE, ids=[r[0] for r in ROWWISE])
def test_per_vector_sets_project_the_last_axis_row_by_row(name, project):
    X = np.random.default_rng(15).normal(size=(2, 3, N)) * 2
    project = jax.jit(project)
    rows = np.stack([np.stack([np.asarray(project(jnp.asarray(row))) for row in block]) for block in X])
    np.testing.assert_allclose(project(jnp.asarray(X)), rows, rtol=1e-12, atol=1e-12)


def test_sets_with_a_kink_at_zero_are_finite_there():
    zero = jnp.zeros(N)
    np.testing.assert_allclose(P.projection_l2_sphere(zero, 2.0), 2.0 * np.eye(N)[0])
    for fn in (lambda x: P.projection_l2_ball(x, 1.0), lambda x: P.projection_l2_sphere(x, 1.0),
               lambda x: P.projection_second_order_cone(jnp.sum(x), x)[1]):
        assert np.all(np.isfinite(jax.jacfwd(fn)(zero))) and np.all(np.isfinite(jax.jacrev(fn)(zero)))


@pytest.mark.parametrize("call, names", [
    (lambda: P.projection_simplex(1.0), "x"),
    (lambda: P.projection_hyperplane(jnp.ones(3), jnp.ones(4), 1.0), "a"),
    (lambda: P.projection_affine_set(jnp.ones(3), jnp.ones((2, 4)), jnp.ones(2)), "A"),
    (lambda: P.projection_affine_set(jnp.ones(3), jnp.ones((2, 3)), jnp.ones(3)), "b"),
    (lambda: P.projection_polyhedron(jnp.ones(3), jnp.ones((1, 3)), jnp.ones(1), jnp.ones((2, 4)), jnp.ones(2)), "G"),
    (lambda: P.projection_polyhedron(jnp.ones(3), jnp.ones((1, 3)), jnp.ones(2), jnp.ones((2, 3)), jnp.ones(2)), "b"),
    (lambda: P.projection_box_section(jnp.ones(3), jnp.zeros(4), 1.0, jnp.ones(3), 1.0), "alpha"),
    (lambda: P.projection_second_order_cone(jnp.ones(2), jnp.ones(3)), "t"),
    (lambda: P.projection_psd_cone(jnp.ones((2, 3))), "X"),
    (lambda: P.projection_exp_cone(jnp.ones(2), jnp.ones(3), jnp.ones(2)), "r, s, t"),
    (lambda: P.kl_projection_transport(jnp.ones((2, 3)), jnp.ones(3), jnp.ones(3), 1.0), "a and b"),
    (lambda: P.kl_projection_birkhoff(jnp.ones((2, 3)), 1.0), "cost"),
])
def test_bad_shapes_raise_errors_that_name_the_argument(call, names):
    with pytest.raises(ValueError, match=names):
        call()


def test_docstring_examples_run():
    failures = attempted = 0
    for module in pkgutil.iter_modules(P.__path__, P.__name__ + "."):
        result = doctest.testmod(importlib.import_module(module.name), raise_on_error=False, verbose=False)
        failures += result.failed
        attempted += result.attempted
    assert attempted >= 20 and failures == 0


def _affine_cases(rng):
    """(A, b) with duplicated rows, a rank-deficient square A, and more rows than columns (all consistent)."""
    base = rng.normal(size=(3, N))
    tall = rng.normal(size=(N + 3, 3)) @ rng.normal(size=(3, N))
    for A in (np.vstack([base, base[:1]]), np.vstack([base[:2], base[0] + base[1]]), tall):
        yield A, A @ rng.normal(size=N)


def test_the_affine_projection_is_exact_for_any_rank():
    rng = np.random.default_rng(7)
    for A, b in _affine_cases(rng):
        x = rng.normal(size=N) * 3
        basis = null_space(A)
        anchor = np.linalg.lstsq(A, b, rcond=None)[0]
        expected = anchor + basis @ (basis.T @ (x - anchor))
        np.testing.assert_allclose(P.projection_affine_set(x, A, b), expected, atol=1e-11)
        grad_x = jax.jacobian(P.projection_affine_set)(jnp.asarray(x), A, b)
        np.testing.assert_allclose(grad_x, basis @ basis.T, atol=1e-11)


def test_an_inconsistent_affine_system_projects_to_its_least_squares_solutions():
    A = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    y = jax.jit(P.projection_affine_set)(jnp.zeros(3), A, jnp.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(y, [0.75, 0.75, 3.0], atol=1e-12)
    with pytest.raises(P.EmptySetError, match="no solution"):
        P.projection_affine_set(jnp.zeros(3), A, jnp.array([1.0, 2.0, 3.0]))


def test_a_zero_normal_leaves_the_point_where_it_is():
    x = jnp.array([1.0, -2.0, 3.0])
    for project in (P.projection_hyperplane, P.projection_halfspace):
        np.testing.assert_array_equal(jax.jit(project)(x, jnp.zeros(3), 1.0), x)
        assert np.all(np.isfinite(jax.jacobian(project, argnums=1)(x, jnp.zeros(3), 1.0)))
