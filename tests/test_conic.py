"""Conic solver on the homogeneous self-dual embedding: cones, solutions vs closed forms and cvxpy+Clarabel,
certificates, jit/vmap, float32, and implicit derivatives vs finite differences."""

import dataclasses
import doctest

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optdsl.runtime import status
from optdsl.runtime.kinks import kinked
from optdsl.runtime.projections import projection_power_cone, projection_power_cone_dual
from optdsl.runtime.solvers import cones as cones_module, conic as conic_module, conic_diff as conic_diff_module
from optdsl.runtime.solvers.cones import Cones, project_cone, project_dual_cone, smat, svec, svec_size
from optdsl.runtime.solvers.conic import ConicPoint, conic_solve
from optdsl.runtime.solvers.conic_diff import (_pinned_jacobian, _pinned_residual_map, conic_residual_map,
                                               embedding_from_point, point_from_embedding, solve_conic_diff)

STATIC = ("cones", "tol", "maxiter", "polish", "anderson", "anderson_type")


def xla_options(cones: Cones):
    """XLA options for a test program: skip LLVM optimisation, which dominates compile time here.

    Not with exponential cones: unoptimised CPU code makes ``projection_exp_cone`` inaccurate on some
    inputs, which derails the solver.
    """
    return None if cones.exp else {"xla_backend_optimization_level": 0}


_SOLVERS = {exp: jax.jit(conic_solve, static_argnames=STATIC, compiler_options=xla_options(Cones(exp=exp)))
            for exp in (0, 1)}


def solve(A, b, c, *, cones: Cones, **kwargs):
    """``conic_solve`` compiled once per cone layout and options."""
    return _SOLVERS[min(cones.exp, 1)](A, b, c, cones=cones, **kwargs)


# ----------------------------------------------------------------------------- random instances with known solutions

@dataclasses.dataclass(frozen=True)
class Family:
    """A cone layout and how a strictly complementary optimal pair ``(s, y)`` sits in it.

    ``active``: non-negative rows with ``s = 0 < y``; ``soc``: per cone, "pair" (both on the
    boundary), "primal" (``s`` interior, ``y = 0``) or "dual" (``s = 0``, ``y`` interior);
    ``ranks``: rank of ``S`` per PSD cone (``Y`` has the complementary rank). ``n`` equals the
    dimension of the normal space at ``s``, so the solution is unique and non-degenerate.
    """

    cones: Cones
    active: int
    soc: tuple = ()
    ranks: tuple = ()

    @property
    def n(self) -> int:
        soc = sum({"pair": 1, "primal": 0, "dual": q}[kind] for kind, q in zip(self.soc, self.cones.soc))
        psd = sum(svec_size(k - r) for k, r in zip(self.cones.psd, self.ranks))
        return self.cones.zero + self.active + soc + psd + self.cones.exp + len(self.cones.power)


LP = Family(Cones(zero=2, nonneg=16), active=6)
SOCP = Family(Cones(zero=1, nonneg=4, soc=(3, 4, 5, 3)), active=2, soc=("pair", "dual", "primal", "pair"))
EXP = Family(Cones(zero=1, nonneg=3, exp=4), active=1)
SDP = Family(Cones(nonneg=3, psd=(3, 4)), active=1, ranks=(1, 2))
MIXED = Family(Cones(zero=1, nonneg=3, soc=(3,), psd=(2,), exp=1), active=1, soc=("pair",), ranks=(1,))
FAMILIES = {"lp": LP, "socp": SOCP, "exp": EXP, "sdp": SDP}
#: Power cones of two exponents (one repeated) mixed with every other non-PSD cone.
POWER = Family(Cones(zero=1, nonneg=3, soc=(3,), exp=1, power=(0.3, 0.7, 0.3)), active=1, soc=("pair",))


def _orthogonal(rng, k):
    return np.linalg.qr(rng.normal(size=(k, k)))[0]


def optimal_pair(family: Family, rng) -> tuple[np.ndarray, np.ndarray]:
    """Complementary ``s in K``, ``y in K*`` (``s'y = 0``) built blockwise in closed form."""
    cones = family.cones
    s, y = [np.zeros(cones.zero)], [rng.normal(size=cones.zero)]
    mag = rng.uniform(0.5, 2.0, cones.nonneg)
    active = np.arange(cones.nonneg) < family.active
    s.append(np.where(active, 0, mag))
    y.append(np.where(active, mag, 0))
    for kind, q in zip(family.soc, cones.soc):
        a = rng.normal(size=q - 1)
        r = np.linalg.norm(a)
        ray, scale = np.r_[r, a], rng.uniform(0.5, 2.0)
        inner = np.r_[r + 1, a]
        s.append({"pair": ray, "primal": inner, "dual": np.zeros(q)}[kind])
        y.append({"pair": scale * np.r_[r, -a], "primal": np.zeros(q), "dual": inner}[kind])
    for k, rank in zip(cones.psd, family.ranks):
        U, lam = _orthogonal(rng, k), rng.uniform(0.5, 2.0, k)
        s.append(np.asarray(svec(U[:, :rank] * lam[:rank] @ U[:, :rank].T)))
        y.append(np.asarray(svec(U[:, rank:] * lam[rank:] @ U[:, rank:].T)))
    for _ in range(cones.exp):
        rho, sigma, mu = rng.uniform(-1, 1), rng.uniform(0.5, 2.0), rng.uniform(0.5, 2.0)
        s.append(sigma * np.array([rho, 1.0, np.exp(rho)]))  # boundary of K: s exp(r / s) = t
        y.append(mu * np.array([-np.exp(rho), (rho - 1) * np.exp(rho), 1.0]))  # boundary of K*, orthogonal
    for a in cones.power:
        p, q, sign, mu = *rng.uniform(0.5, 2.0, 2), rng.choice([-1.0, 1.0]), rng.uniform(0.5, 2.0)
        t = sign * p ** a * q ** (1 - a)
        s.append(np.array([p, q, t]))  # boundary of K: p^a q^(1 - a) = |t|
        y.append(mu * np.array([a * abs(t) / p, (1 - a) * abs(t) / q, -sign]))  # boundary of K*, orthogonal
    return np.concatenate(s), np.concatenate(y)


def interior_point(family: Family, rng, dual: bool) -> np.ndarray:
    """A point in the interior of ``K`` (zero rows 0) or of ``K*`` (zero rows free)."""
    cones = family.cones
    parts = [rng.normal(size=cones.zero) if dual else np.zeros(cones.zero), rng.uniform(0.5, 2.0, cones.nonneg)]
    for q in cones.soc:
        a = rng.normal(size=q - 1)
        parts.append(np.r_[np.linalg.norm(a) + 1, a])
    for k in cones.psd:
        U = _orthogonal(rng, k)
        parts.append(np.asarray(svec(U * rng.uniform(0.5, 2.0, k) @ U.T)))
    parts += [np.array([-1.0, 0.0, 1.0]) if dual else np.array([-1.0, 1.0, 1.0])] * cones.exp
    parts += [np.array([1.0, 1.0, 0.5])] * len(cones.power)  # inside K and K* for every exponent
    return np.concatenate(parts)


def feasible_instance(family: Family, seed: int):
    """``(A, b, c)`` whose unique solution ``(x, y, s)`` is known: ``b = A x + s``, ``c = -A'y``."""
    rng = np.random.default_rng(seed)
    s, y = optimal_pair(family, rng)
    A = rng.normal(size=(family.cones.dim, family.n))
    x = rng.normal(size=family.n)
    return (A, A @ x + s, -A.T @ y), ConicPoint(x, y, s)


def infeasible_instance(family: Family, seed: int):
    """``A'y = 0``, ``b'y = -1`` for an interior ``y in K*``: no ``x`` is feasible."""
    rng = np.random.default_rng(seed)
    y = interior_point(family, rng, dual=True)
    A = rng.normal(size=(family.cones.dim, family.n))
    A -= np.outer(y, y @ A) / (y @ y)
    b = rng.normal(size=family.cones.dim)
    b -= y * (y @ b + 1) / (y @ y)
    return A, b, rng.normal(size=family.n)


def unbounded_instance(family: Family, seed: int):
    """Feasible, with a ray ``A d + s_d = 0``, ``s_d in K``, ``c'd = -1``: the objective is unbounded below."""
    rng = np.random.default_rng(seed)
    d, s_d = rng.normal(size=family.n), interior_point(family, rng, dual=False)
    A = rng.normal(size=(family.cones.dim, family.n))
    A -= np.outer(A @ d + s_d, d) / (d @ d)
    b = A @ rng.normal(size=family.n) + interior_point(family, rng, dual=False)
    c = rng.normal(size=family.n)
    c -= d * (c @ d + 1) / (d @ d)
    return A, b, c


# ----------------------------------------------------------------------------- cone membership (numpy)

def cone_violation(v: np.ndarray, cones: Cones, dual: bool) -> float:
    """Largest violation of membership of ``v`` in ``K`` (or ``K*``), computed independently in numpy."""
    worst, o = 0.0, 0
    if not dual:
        worst = max(worst, np.abs(v[:cones.zero]).max(initial=0))
    o += cones.zero
    worst = max(worst, -v[o:o + cones.nonneg].min(initial=0))
    o += cones.nonneg
    for q in cones.soc:
        worst = max(worst, np.linalg.norm(v[o + 1:o + q]) - v[o])
        o += q
    for k in cones.psd:
        worst = max(worst, -np.linalg.eigvalsh(np.asarray(smat(v[o:o + svec_size(k)]))).min())
        o += svec_size(k)
    for _ in range(cones.exp):
        r, s, t = v[o:o + 3]
        if dual:  # u < 0, -u exp(v / u) <= e w  (or u = 0, v, w >= 0)
            worst = max(worst, r, (-r * np.exp(s / r) - np.e * t) if r < 0 else max(-s, -t))
        else:  # s > 0, s exp(r / s) <= t  (or s = 0, r <= 0, t >= 0)
            worst = max(worst, -s, (s * np.exp(r / s) - t) if s > 0 else max(r, -t))
        o += 3
    for a in cones.power:
        p, q, t = v[o:o + 3] / ([a, 1 - a, 1] if dual else 1)  # K*: (u / a)^a (v / (1 - a))^(1 - a) >= |w|
        worst = max(worst, -p, -q, abs(t) - max(p, 0) ** a * max(q, 0) ** (1 - a))
        o += 3
    return worst


# ----------------------------------------------------------------------------- cvxpy reference

def cvxpy_reference(A, b, c, cones: Cones):
    """Solve with cvxpy + Clarabel; returns (status, value, x, y) with ``y`` in this module's sign convention.

    cvxpy's dual of ``b - A x == 0`` is ``-y`` (its Lagrangian adds ``nu'(b - A x)``); the other
    cones' duals are ``y`` as is (the PSD dual matrix ``Y`` as ``svec(Y)``).
    """
    n = A.shape[1]
    x = cp.Variable(n)
    s = b - A @ x
    constraints, o = [], 0
    if cones.zero:
        constraints.append(s[:cones.zero] == 0)
    o += cones.zero
    if cones.nonneg:
        constraints.append(s[o:o + cones.nonneg] >= 0)
    o += cones.nonneg
    for q in cones.soc:
        constraints.append(cp.SOC(s[o], s[o + 1:o + q]))
        o += q
    for k in cones.psd:
        d = svec_size(k)
        basis = np.stack([np.asarray(smat(e)).ravel(order="F") for e in np.eye(d)], axis=1)
        constraints.append(cp.reshape(basis @ s[o:o + d], (k, k), order="F") >> 0)
        o += d
    for _ in range(cones.exp):
        constraints.append(cp.ExpCone(s[o], s[o + 1], s[o + 2]))
        o += 3
    for a in cones.power:
        constraints.append(cp.PowCone3D(s[o], s[o + 1], s[o + 2], a))
        o += 3
    problem = cp.Problem(cp.Minimize(c @ x), constraints)
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    if problem.status != cp.OPTIMAL:
        return problem.status, None, None, None
    duals, i = [], 0
    if cones.zero:
        duals.append(-constraints[0].dual_value)
        i += 1
    for con in constraints[i:]:
        value = con.dual_value
        if isinstance(con, cp.constraints.PSD):
            duals.append(np.asarray(svec(value)))
        else:
            duals.append(np.concatenate([np.ravel(part) for part in (value if isinstance(value, list) else [value])]))
    return problem.status, problem.value, x.value, np.concatenate(duals)


# ----------------------------------------------------------------------------- cones

CONES = Cones(zero=2, nonneg=3, soc=(3, 1, 4, 3), psd=(2, 3, 2), exp=2)


def test_cones_layout_and_validation():
    assert CONES.dim == 2 + 3 + 11 + (3 + 6 + 3) + 6
    assert hash(CONES) == hash(Cones(zero=2, nonneg=3, soc=[3, 1, 4, 3], psd=[2, 3, 2], exp=2))
    assert np.bincount(CONES.blocks()).tolist() == [1] * 5 + [3, 1, 4, 3] + [3, 6, 3] + [3, 3]
    with pytest.raises(ValueError, match="Cones.soc"):
        Cones(soc=(3, 0))
    with pytest.raises(ValueError, match="Cones.nonneg"):
        Cones(nonneg=-1)
    with pytest.raises(ValueError, match="Cones.psd"):
        Cones(psd=3)
    with pytest.raises(ValueError, match="cones.dim = 34"):
        project_cone(jnp.zeros(33), CONES)
    with pytest.raises(TypeError, match="Cones instance"):
        project_dual_cone(jnp.zeros(3), {"nonneg": 3})


def test_svec_smat_round_trip_and_inner_product():
    rng = np.random.default_rng(0)
    X, Y = (M + M.T for M in rng.normal(size=(2, 4, 4)))
    assert np.allclose(smat(svec(X)), X)
    assert np.isclose(svec(X) @ svec(Y), np.trace(X @ Y))
    assert svec_size(4) == svec(X).shape[0] == 10
    with pytest.raises(ValueError, match="k \\(k \\+ 1\\) / 2"):
        smat(jnp.zeros(4))


def test_project_cone_membership_idempotence_moreau():
    rng = np.random.default_rng(1)
    V = 2 * rng.normal(size=(3, CONES.dim))
    project = jax.jit(project_cone, static_argnums=1, compiler_options=xla_options(CONES))
    project_dual = jax.jit(project_dual_cone, static_argnums=1, compiler_options=xla_options(CONES))
    P, D = np.asarray(project(V, CONES)), np.asarray(project_dual(-V, CONES))
    for v, p, d in zip(V, P, D):
        assert cone_violation(p, CONES, dual=False) < 1e-10
        assert cone_violation(d, CONES, dual=True) < 1e-10
        assert np.allclose(v, p - d, atol=1e-10)  # Moreau: v = P_K(v) - P_K*(-v), with P_K(v) . P_K*(-v) = 0
        assert abs(p @ d) < 1e-9
    assert np.allclose(project(P, CONES), P, atol=1e-10)
    assert np.allclose(project_dual(D, CONES), D, atol=1e-10)
    # vmap over rows agrees with the batched call, and float32 stays float32
    vmapped = jax.jit(jax.vmap(lambda v: project_cone(v, CONES)), compiler_options=xla_options(CONES))
    assert np.allclose(vmapped(V), P, atol=1e-12)
    assert jax.eval_shape(lambda v: project_cone(v, CONES), V.astype(np.float32)).dtype == jnp.float32


# ----------------------------------------------------------------------------- solutions

@pytest.mark.parametrize("name", FAMILIES)
def test_solution_matches_closed_form_and_clarabel(name):
    family = FAMILIES[name]
    for seed in range(2):
        (A, b, c), truth = feasible_instance(family, seed)
        point, info = solve(A, b, c, cones=family.cones)
        assert int(info.status) == status.SOLVED and float(info.residual) <= 1e-10
        assert point.x.dtype == jnp.float64
        for got, want in zip(point, truth):
            assert np.allclose(got, want, atol=1e-8, rtol=1e-8)
        ref_status, value, x_ref, y_ref = cvxpy_reference(A, b, c, family.cones)
        assert ref_status == cp.OPTIMAL
        assert np.isclose(c @ point.x, value, rtol=1e-7, atol=1e-7)
        assert np.allclose(point.x, x_ref, atol=1e-6)
        assert np.allclose(point.y, y_ref, atol=1e-5)  # Clarabel's duals are the less accurate side
        assert cone_violation(np.asarray(point.s), family.cones, dual=False) <= 1e-9
        assert cone_violation(np.asarray(point.y), family.cones, dual=True) <= 1e-9


@pytest.mark.parametrize("name", ["lp", "socp"])
def test_infeasible_and_unbounded_are_certified(name):
    family = FAMILIES[name]
    A, b, c = infeasible_instance(family, 3)
    assert cvxpy_reference(A, b, c, family.cones)[0] == cp.INFEASIBLE
    point, info = solve(A, b, c, cones=family.cones)
    assert int(info.status) == status.INFEASIBLE
    assert np.isclose(b @ point.y, -1) and np.abs(A.T @ point.y).max() < 1e-4
    assert cone_violation(np.asarray(point.y), family.cones, dual=True) <= 1e-12
    assert np.isnan(point.x).all() and np.isnan(point.s).all()

    A, b, c = unbounded_instance(family, 4)
    assert cvxpy_reference(A, b, c, family.cones)[0] == cp.UNBOUNDED
    point, info = solve(A, b, c, cones=family.cones)
    assert int(info.status) == status.UNBOUNDED
    assert np.isclose(c @ point.x, -1) and np.abs(A @ point.x + point.s).max() < 1e-4
    assert cone_violation(np.asarray(point.s), family.cones, dual=False) <= 1e-12
    assert np.isnan(point.y).all()


def test_max_iterations_is_never_reported_solved():
    (A, b, c), _ = feasible_instance(LP, 0)
    point, info = solve(A, b, c, cones=LP.cones, maxiter=5, polish=0, anderson=0)
    assert int(info.status) == status.MAX_ITERATIONS and int(info.iterations) == 5
    assert float(info.residual) > 1e-10


def test_non_finite_data_is_a_numerical_error():
    (A, b, c), _ = feasible_instance(LP, 0)
    A = A.copy()
    A[3, 2] = np.nan
    _, info = solve(A, b, c, cones=LP.cones)
    assert int(info.status) == status.NUMERICAL_ERROR


def test_warm_start_at_the_solution_stops_at_once():
    (A, b, c), truth = feasible_instance(LP, 2)
    point, info = solve(A, b, c, cones=LP.cones, init=ConicPoint(*truth))
    assert int(info.status) == status.SOLVED and int(info.iterations) == 0
    assert np.allclose(point.x, truth.x, atol=1e-12)
    with pytest.raises(ValueError, match="init must be a ConicPoint"):
        conic_solve(A, b, c, LP.cones, init=ConicPoint(truth.x[:-1], truth.y, truth.s))


def test_vmap_over_a_batch_with_mixed_statuses():
    instances = [feasible_instance(LP, 5)[0], infeasible_instance(LP, 6), unbounded_instance(LP, 7),
                 feasible_instance(LP, 8)[0]]
    A, b, c = (np.stack(parts) for parts in zip(*instances))
    batched = jax.jit(jax.vmap(lambda A, b, c: conic_solve(A, b, c, LP.cones)),
                      compiler_options=xla_options(LP.cones))
    points, infos = batched(A, b, c)
    assert infos.status.tolist() == [status.SOLVED, status.INFEASIBLE, status.UNBOUNDED, status.SOLVED]
    for i, seed in ((0, 5), (3, 8)):
        assert np.allclose(points.x[i], feasible_instance(LP, seed)[1].x, atol=1e-8)


def test_float32_converges_loosely():
    (A, b, c), truth = feasible_instance(LP, 9)
    A, b, c = (v.astype(np.float32) for v in (A, b, c))
    point, info = solve(A, b, c, cones=LP.cones, tol=1e-5)
    assert point.x.dtype == point.y.dtype == info.residual.dtype == jnp.float32
    assert int(info.status) == status.SOLVED
    assert np.allclose(point.x, truth.x, atol=1e-3) and np.allclose(point.y, truth.y, atol=1e-3)


@pytest.mark.parametrize("options, atol", [(dict(anderson_type=1), 1e-8), (dict(polish=0, tol=1e-6), 1e-4)])
def test_other_acceleration_settings_solve(options, atol):
    (A, b, c), truth = feasible_instance(LP, 10)
    point, info = solve(A, b, c, cones=LP.cones, **options)
    assert int(info.status) == status.SOLVED and float(info.residual) <= options.get("tol", 1e-10)
    assert np.allclose(point.x, truth.x, atol=atol)


def test_bad_input_raises_clear_errors():
    (A, b, c), _ = feasible_instance(LP, 0)
    with pytest.raises(ValueError, match="cones describe 18 rows"):
        conic_solve(A[:-1], b[:-1], c, LP.cones)
    with pytest.raises(ValueError, match="b must have shape \\(18,\\)"):
        conic_solve(A, b[:-1], c, LP.cones)
    with pytest.raises(ValueError, match="c must have shape \\(8,\\)"):
        conic_solve(A, b, np.r_[c, 1.0], LP.cones)
    with pytest.raises(TypeError, match="Cones instance"):
        conic_solve(A, b, c, (2, 16))
    with pytest.raises(ValueError, match="alpha"):
        conic_solve(A, b, c, LP.cones, alpha=2.0)
    with pytest.raises(ValueError, match="tol must be positive"):
        conic_solve(A, b, c, LP.cones, tol=0.0)


# ----------------------------------------------------------------------------- power cones

def power_batch() -> tuple[tuple[np.ndarray, ...], list[ConicPoint]]:
    """Stacked ``(A, b, c)`` of two feasible :data:`POWER` programs (with their solutions), an infeasible and
    an unbounded one: one ``vmap``-ed solve covers solutions, certificates and batching."""
    feasible = [feasible_instance(POWER, seed) for seed in (0, 1)]
    instances = [data for data, _ in feasible] + [infeasible_instance(POWER, 2), unbounded_instance(POWER, 3)]
    return tuple(np.stack(parts) for parts in zip(*instances)), [truth for _, truth in feasible]


def check_power_batch(points: ConicPoint, infos, data, truths) -> None:
    """The statuses, solutions (known and cvxpy+Clarabel's) and certificates of a solved :func:`power_batch`."""
    assert infos.status.tolist() == [status.SOLVED, status.SOLVED, status.INFEASIBLE, status.UNBOUNDED]
    for i, truth in enumerate(truths):
        A, b, c = (v[i] for v in data)
        point = ConicPoint(*(np.asarray(v[i]) for v in points))
        for got, want in zip(point, truth):
            assert np.allclose(got, want, atol=1e-8, rtol=1e-8)
        ref_status, value, x_ref, y_ref = cvxpy_reference(A, b, c, POWER.cones)
        assert ref_status == cp.OPTIMAL
        assert np.isclose(c @ point.x, value, rtol=1e-7, atol=1e-7)
        assert np.allclose(point.x, x_ref, rtol=1e-7, atol=1e-7)
        assert np.allclose(point.y, y_ref, atol=1e-5)  # Clarabel's duals are the less accurate side
        assert cone_violation(point.s, POWER.cones, dual=False) <= 1e-9
        assert cone_violation(point.y, POWER.cones, dual=True) <= 1e-9
    (A, b, c), y = (v[2] for v in data), np.asarray(points.y[2])
    assert cvxpy_reference(A, b, c, POWER.cones)[0] == cp.INFEASIBLE
    assert np.isclose(b @ y, -1) and np.abs(A.T @ y).max() < 1e-4
    assert cone_violation(y, POWER.cones, dual=True) <= 1e-12
    (A, b, c), x, s = (v[3] for v in data), np.asarray(points.x[3]), np.asarray(points.s[3])
    assert cvxpy_reference(A, b, c, POWER.cones)[0] == cp.UNBOUNDED
    assert np.isclose(c @ x, -1) and np.abs(A @ x + s).max() < 1e-4
    assert cone_violation(s, POWER.cones, dual=False) <= 1e-12


def test_power_cones_layout_validation_and_projection():
    cones = Cones(nonneg=1, exp=1, power=[0.3, 0.7, 0.3])
    assert cones.power == (0.3, 0.7, 0.3) and cones.dim == 1 + 3 + 9
    assert hash(cones) == hash(Cones(nonneg=1, exp=1, power=(0.3, 0.7, 0.3)))
    assert np.bincount(cones.blocks()).tolist() == [1, 3, 3, 3, 3]
    for bad in ((0.0,), (1.0,), (True,), 0.5, ("0.5",)):
        with pytest.raises(ValueError, match="Cones.power"):
            Cones(power=bad)
    v = np.random.default_rng(0).normal(size=(2, cones.dim)) * 2
    alphas = np.tile(cones.power, 2)  # the rows of v[:, 4:].reshape(6, 3): batch-major, then cone
    for project, single in ((project_cone, projection_power_cone), (project_dual_cone, projection_power_cone_dual)):
        out, head, rows = jax.jit(lambda v: (project(v, cones), project(v[:, :4], Cones(nonneg=1, exp=1)),
                                             jnp.stack(single(*v[:, 4:].reshape(6, 3).T, alphas), 1)))(v)
        assert np.array_equal(out[:, :4], head)
        assert np.allclose(out[:, 4:], np.asarray(rows).reshape(2, 9), rtol=1e-15, atol=1e-15)


def test_power_cone_kinks_are_where_strict_complementarity_fails():
    """``kinked`` on ``P_{K*}`` (what ``solve_conic_diff`` asks at a solution's ``y - s``): a complementary pair
    with both sides non-zero is smooth; ``y`` on the boundary of ``K*`` with ``s = 0``, ``s`` on the boundary
    of ``K`` with ``y = 0``, and both zero are kinks."""
    a = 0.3
    cones = Cones(power=(a,))
    flagged = jax.jit(jax.vmap(lambda v: kinked(lambda u: project_dual_cone(u, cones), v, 1e-8)))
    p, q, t = 1.5, 0.7, -(1.5 ** a) * 0.7 ** (1 - a)  # s on the boundary of K
    s = np.array([p, q, t])
    y = 2.0 * np.array([a * abs(t) / p, (1 - a) * abs(t) / q, 1.0])  # on the boundary of K*, s'y = 0
    assert abs(s @ y) < 1e-12
    assert flagged(np.stack([y - s, y, -s, np.zeros(3)])).tolist() == [False, True, True, True]


def test_power_cone_programs_solve_certify_and_batch():
    data, truths = power_batch()
    batched = jax.jit(jax.vmap(lambda A, b, c: conic_solve(A, b, c, POWER.cones)))
    check_power_batch(*batched(*data), data, truths)


def test_geometric_mean_derivatives_match_the_closed_form():
    """``max t s.t. (x1, x2, t) in POW(a), p1 x1 + p2 x2 <= B`` (a Cobb-Douglas demand): ``x1 = a B / p1``,
    ``x2 = (1 - a) B / p2``, ``t = x1^a x2^(1 - a)``; the solution's Jacobian in ``(B, p1, p2)`` in closed form."""
    a = 0.35
    cones = Cones(nonneg=1, power=(a,))

    def solution(theta):
        B, p1, p2 = theta
        A = jnp.concatenate([jnp.stack([p1, p2, 0.0])[None], -jnp.eye(3)])
        b = jnp.zeros(4).at[0].set(B)
        return solve_conic_diff(A, b, jnp.array([0.0, 0.0, -1.0]), cones, solver="hsde_admm")[0].x

    theta = np.array([2.0, 0.8, 1.5])
    x, jac = jax.jit(lambda t: (solution(t), jax.jacfwd(solution)(t)))(theta)
    B, p1, p2 = theta
    x1, x2 = a * B / p1, (1 - a) * B / p2
    t = x1 ** a * x2 ** (1 - a)
    assert np.allclose(x, [x1, x2, t], rtol=1e-9)
    want = np.array([[x1 / B, -x1 / p1, 0.0], [x2 / B, 0.0, -x2 / p2], [t / B, -a * t / p1, -(1 - a) * t / p2]])
    assert np.allclose(jac, want, rtol=1e-7, atol=1e-9)


def test_power_program_derivatives_match_finite_differences():
    """``solve_conic_diff`` (interior point) on a :data:`POWER` program: the JVP of the whole point along random
    data directions equals central differences."""
    (A, b, c), truth = feasible_instance(POWER, 4)
    weights = np.random.default_rng(13).normal(size=POWER.n + 2 * POWER.cones.dim)

    @jax.jit
    def value_and_jvp(data, direction):
        flat = lambda *d: jnp.concatenate(solve_conic_diff(*d, POWER.cones)[0])  # noqa: E731
        return jax.jvp(flat, data, direction)

    base, _ = value_and_jvp((A, b, c), (A, b, c))
    assert np.allclose(base, np.concatenate(truth), atol=1e-9)
    rng, h = np.random.default_rng(14), 1e-5
    for _ in range(2):
        direction = tuple(rng.normal(size=np.shape(v)) for v in (A, b, c))
        _, analytic = value_and_jvp((A, b, c), direction)
        plus, _ = value_and_jvp(tuple(v + h * d for v, d in zip((A, b, c), direction)), direction)
        minus, _ = value_and_jvp(tuple(v - h * d for v, d in zip((A, b, c), direction)), direction)
        fd = (plus - minus) @ weights / (2 * h)
        assert abs(fd - analytic @ weights) <= 1e-5 * abs(fd)


# ----------------------------------------------------------------------------- residual map and derivatives

def test_residual_map_vanishes_at_the_solution_and_pinning_removes_the_singular_ray():
    (A, b, c), truth = feasible_instance(MIXED, 0)
    z = embedding_from_point(ConicPoint(*(jnp.asarray(v) for v in truth)))
    residual = jax.jit(lambda z: conic_residual_map(z, A, b, c, MIXED.cones))
    assert np.abs(residual(z)).max() < 1e-12
    assert np.abs(residual(3 * z)).max() < 1e-12  # a ray of roots
    assert np.abs(residual(z.at[0].add(0.1))).max() > 1e-3
    recover = jax.jit(lambda z: point_from_embedding(z, MIXED.n, MIXED.cones))
    for got, want in zip(recover(z), truth):
        assert np.allclose(got, want, atol=1e-12)
    jacobians = jax.jit(lambda z: (jax.jacfwd(conic_residual_map)(z, A, b, c, MIXED.cones),
                                   jax.jacfwd(_pinned_residual_map)(z, A, b, c, MIXED.cones)))
    J, J_pinned = jacobians(z)
    assert np.abs(J @ z).max() < 1e-10  # degree-0 homogeneous: singular along z
    assert np.linalg.cond(J_pinned) < 1e8


@pytest.mark.parametrize("family", [MIXED, POWER], ids=["mixed", "power"])
def test_the_assembled_pinned_jacobian_is_the_residual_maps(family):
    (A, b, c), truth = feasible_instance(family, 2)
    z = embedding_from_point(ConicPoint(*(jnp.asarray(v) for v in truth)))
    both = jax.jit(lambda z: (_pinned_jacobian(z, A, b, c, family.cones),
                              jax.jacfwd(_pinned_residual_map)(z, A, b, c, family.cones)))
    assembled, autodiff = both(z)
    assert np.abs(assembled - autodiff).max() <= 1e-12 * (1 + np.abs(autodiff).max())
    # Off a root the map's w column also holds -N(z) (from its 1 / |w|); the other columns still agree.
    off = z.at[:-1].add(0.1 * np.random.default_rng(3).normal(size=z.shape[0] - 1))
    assembled, autodiff = both(off)
    assert np.abs(assembled - autodiff)[:, :-1].max() <= 1e-12 * (1 + np.abs(autodiff).max())


def test_gradients_match_finite_differences_and_modes_agree():
    (A, b, c), truth = feasible_instance(MIXED, 1)
    weights = np.random.default_rng(11).normal(size=MIXED.n + 2 * MIXED.cones.dim)

    def flat(A, b, c, linear_solve="lu"):
        point, _ = solve_conic_diff(A, b, c, MIXED.cones, linear_solve=linear_solve)
        return jnp.concatenate(point)

    @jax.jit  # one compiled program for both Jacobians and the value (also used at the perturbed points)
    def derivatives(*data):
        forward, value = jax.jacfwd(lambda *d: (flat(*d),) * 2, argnums=(0, 1, 2), has_aux=True)(*data)
        reverse = jax.jacrev(lambda *d: flat(*d, linear_solve="gmres"), argnums=(0, 1, 2))(*data)
        return forward, reverse, value

    def value(*data):
        return derivatives(*data)[2]

    forward, reverse, base = derivatives(A, b, c)
    assert np.allclose(base, np.concatenate(truth), atol=1e-9)
    for jf, jr in zip(forward, reverse):
        assert np.allclose(jf, jr, atol=1e-8)
    rng = np.random.default_rng(12)
    h = 1e-5
    for _ in range(3):
        direction = [rng.normal(size=np.shape(v)) for v in (A, b, c)]
        plus = value(*(v + h * d for v, d in zip((A, b, c), direction))) @ weights
        minus = value(*(v - h * d for v, d in zip((A, b, c), direction))) @ weights
        fd = (plus - minus) / (2 * h)
        analytic = sum(np.tensordot(j, d, axes=d.ndim) for j, d in zip(forward, direction)) @ weights
        assert abs(fd - analytic) <= 1e-5 * abs(analytic)


@pytest.mark.parametrize("module", [cones_module, conic_module, conic_diff_module], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, extraglobs={"jax": jax, "jnp": jnp, "Cones": Cones})
    assert result.attempted > 0 and result.failed == 0
