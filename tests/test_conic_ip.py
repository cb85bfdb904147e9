"""Conic interior point: the cones' scalings in closed form, solutions vs the known optimum and cvxpy+Clarabel,
certificates, jit/vmap, float32, warm start and errors.

Instances come from the generators of ``test_conic`` (random data around a known strictly complementary
optimum, or with a known certificate); each cone layout is compiled once and shared by the tests.
"""

import doctest

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_conic import (LP, POWER, SDP, SOCP, Family, check_power_batch, cone_violation, cvxpy_reference,
                        feasible_instance, infeasible_instance, power_batch, unbounded_instance, xla_options)

from optdsl.runtime import status
from optdsl.runtime.solvers.cones import Cones, svec
from optdsl.runtime.solvers.conic import ConicPoint, conic_solve
from optdsl.runtime.solvers.conic_ip import conic_ip_solve, exponential, iteration, power, product, symmetric
from optdsl.runtime.solvers.conic_ip.exponential import Exponential, conjugate_point, dual_barrier, wright_omega
from optdsl.runtime.solvers.conic_ip.power import Power
from optdsl.runtime.solvers.conic_ip.product import product_cone
from optdsl.runtime.solvers.conic_ip.symmetric import Nonnegative, PositiveSemidefinite, SecondOrder

#: Every cone, several of each kind and size; the exponential cones' s and y both on the boundary.
MIXED = Family(Cones(zero=1, nonneg=3, soc=(3, 4), psd=(2, 3), exp=2), active=1, soc=("pair", "dual"), ranks=(1, 2))
FAMILIES = {"lp": LP, "socp": SOCP, "sdp": SDP, "mixed": MIXED}
_SOLVERS: dict = {}


def solve(A, b, c, cones: Cones, **options):
    """``conic_ip_solve`` compiled once per cone layout and static options."""
    static = tuple(sorted((k, v) for k, v in options.items() if k == "maxiter"))
    key = (cones, static)
    if key not in _SOLVERS:
        _SOLVERS[key] = jax.jit(lambda A, b, c, **kw: conic_ip_solve(A, b, c, cones, **kw, **dict(static)),
                                compiler_options=xla_options(cones))
    return _SOLVERS[key](A, b, c, **{k: v for k, v in options.items() if k != "maxiter"})


# ----------------------------------------------------------------------------- the cones' scalings

def _interior(cone, rng) -> np.ndarray:
    """A random point well inside ``cone`` (each cone here is self-dual)."""
    if isinstance(cone, Nonnegative):
        return rng.uniform(0.5, 2.0, 1)
    if isinstance(cone, SecondOrder):
        v = rng.normal(size=cone.dim - 1)
        return np.r_[np.linalg.norm(v) + rng.uniform(0.1, 1.0), v]
    M = rng.normal(size=(cone.order, cone.order))
    return np.asarray(svec(M @ M.T + 0.1 * np.eye(cone.order)))


@pytest.mark.parametrize("cone", [Nonnegative(), SecondOrder(1), SecondOrder(4), PositiveSemidefinite(3)],
                         ids=repr)
def test_nesterov_todd_scaling_identities(cone):
    rng = np.random.default_rng(0)
    s, z = _interior(cone, rng), _interior(cone, rng)
    w = cone.scaling(jnp.asarray(s), jnp.asarray(z), 1.0)
    matrix = _matrices(cone, w)
    W = matrix["mul_w"]
    lam = W @ z
    assert np.allclose(lam, np.linalg.solve(W.T, s), atol=1e-12)  # W z = W^-T s
    assert np.allclose(matrix["mul_wt"], W.T, atol=1e-12)
    assert np.allclose(matrix["mul_winv"], np.linalg.inv(W), atol=1e-10)
    assert np.allclose(matrix["mul_winvt"], np.linalg.inv(W).T, atol=1e-10)
    assert np.allclose(W.T @ W @ z, s, atol=1e-12)  # H z = s: the scaling maps z to s
    # ds + H dz = -ds_offset(d) solves lambda o (W^-T ds + W dz) = -d: d = lambda o lambda gives ds = -s at dz = 0
    assert np.allclose(cone.ds_offset(w, s, z, cone.affine_ds(w, s, z)), s, atol=1e-12)
    zero = np.zeros(cone.dim)
    assert np.allclose(cone.corrector(w, s, z, zero, zero, 0.0), cone.affine_ds(w, s, z), atol=1e-12)
    assert np.isclose(cone.margin(cone.unit(jnp.float64)), 1.0)
    # the step length reaches the boundary of the cone (to sqrt(eps) at a double root), or is unbounded when no
    # direction leaves it
    for _ in range(8):
        ds, dz = rng.normal(size=(2, cone.dim)) * 3
        step = float(cone.step_length(w, s, z, ds, dz))
        inside = [min(float(cone.margin(s + a * ds)), float(cone.margin(z + a * dz))) for a in (0.999 * step, step)]
        if np.isinf(step):
            assert min(float(cone.margin(s + 1e6 * ds)), float(cone.margin(z + 1e6 * dz))) >= 0
        else:
            assert inside[0] > 0 and abs(inside[1]) < 1e-7


def _exp_interior(rng, dual: bool) -> np.ndarray:
    """A random point inside the exponential cone (``s exp(r / s) < t``) or its dual (``-u exp(v / u) < e w``)."""
    a, b, gap = rng.uniform(0.5, 2.0), rng.normal(), rng.uniform(1.2, 3.0)
    if dual:
        return np.array([-a, b, a * np.exp(b / -a - 1) * gap])
    return np.array([b, a, a * np.exp(b / a) * gap])


def _matrices(cone, w) -> dict:
    return {op: np.asarray(jax.vmap(getattr(cone, op), in_axes=(None, 0), out_axes=1)(w, jnp.eye(cone.dim)))
            for op in ("mul_w", "mul_wt", "mul_winv", "mul_winvt")}


def test_exponential_cone_scaling_maps_both_pairs_and_steps_to_the_boundary():
    rng = np.random.default_rng(2)
    cone = Exponential()
    for x in (0.5, 1.0, 3.0, 1e3):
        omega = float(wright_omega(jnp.asarray(x)))
        assert abs(omega + np.log(omega) - x) <= 1e-13 * x
    for _ in range(3):
        s, z = _exp_interior(rng, False), _exp_interior(rng, True)
        z_t, s_t = np.asarray(conjugate_point(s)), -np.asarray(jax.grad(dual_barrier)(jnp.asarray(z)))
        assert np.allclose(-jax.grad(dual_barrier)(jnp.asarray(z_t)), s, rtol=1e-12)  # closed form vs autodiff
        matrix = _matrices(cone, cone.scaling(jnp.asarray(s), jnp.asarray(z), 1.0))
        W = matrix["mul_w"]
        H = W.T @ W
        assert np.allclose(H @ z, s, rtol=1e-10) and np.allclose(H @ z_t, s_t, rtol=1e-10)
        assert np.allclose(matrix["mul_wt"], W.T, atol=1e-12)
        assert np.allclose(matrix["mul_winv"], np.linalg.inv(W), rtol=1e-9)
        assert np.allclose(matrix["mul_winvt"], np.linalg.inv(W).T, rtol=1e-9)
        w = cone.scaling(jnp.asarray(s), jnp.asarray(z), 1.0)
        assert np.allclose(cone.corrector(w, s, z, np.zeros(3), np.zeros(3), 0.0), s, atol=1e-12)
        for _ in range(4):
            ds, dz = rng.normal(size=(2, 3)) * 3
            step = float(cone.step_length(w, s, z, ds, dz))
            inside = [bool(exponential._primal_interior(s + a * ds) & exponential._dual_interior(z + a * dz))
                      for a in (0.999 * step, 1.001 * step)]
            assert inside == [True, False] or (np.isinf(step) and bool(exponential._primal_interior(s + 2 * ds)))
    # on the central path (s = -mu grad f*(z)) the scaling is the dual one, mu f*''(z)
    z = _exp_interior(rng, True)
    s = -0.3 * np.asarray(jax.grad(dual_barrier)(jnp.asarray(z)))
    W = _matrices(cone, cone.scaling(jnp.asarray(s), jnp.asarray(z), 1.0))["mul_w"]
    assert np.allclose(W.T @ W, 0.3 * np.asarray(jax.hessian(dual_barrier)(jnp.asarray(z))), rtol=1e-10)
    assert np.isclose(cone.margin(cone.unit(jnp.float64)), 1.0)


def test_product_cone_groups_cones_of_one_kind_and_size():
    cone = product_cone(Cones(zero=2, nonneg=3, soc=(3, 1, 3), psd=(2,), exp=1))
    assert cone.zero == 2 and cone.dim == 3 + 7 + 3 + 3 and cone.degree == 3 + 3 + 2 + 3
    assert [(c, rows.tolist()) for c, rows in cone.segments] == [
        (Nonnegative(), [[0], [1], [2]]), (SecondOrder(3), [[3, 4, 5], [7, 8, 9]]), (SecondOrder(1), [[6]]),
        (PositiveSemidefinite(2), [[10, 11, 12]]), (Exponential(), [[13, 14, 15]])]
    assert not cone.symmetric and product_cone(Cones(nonneg=1, psd=(2,))).symmetric
    v = jnp.arange(16.0)
    assert np.array_equal(cone.join([v[rows] for _, rows in cone.segments], v.dtype), v)


def _power_interior(rng, alpha: float, dual: bool, gap: float) -> np.ndarray:
    """A point inside the power cone (``x^a y^(1 - a) > |t|``) or its dual, ``|t|`` a fraction ``gap`` of the bound."""
    x, y = rng.uniform(0.3, 2.0, 2)
    bound = (x / alpha) ** alpha * (y / (1 - alpha)) ** (1 - alpha) if dual else x ** alpha * y ** (1 - alpha)
    return np.array([x, y, rng.choice([-1.0, 1.0]) * gap * bound])


@pytest.mark.parametrize("alpha", [0.2, 0.65])
def test_power_cone_scaling_maps_both_pairs_and_steps_to_the_boundary(alpha):
    """The dual barrier's Hessian factor and the conjugate point (a Newton solve) against autodiff; the scaling
    maps ``z`` to ``s`` and ``z~`` to ``s~``; step lengths reach the boundary; the central point is central."""
    rng = np.random.default_rng(int(alpha * 100))
    cone = Power(alpha)
    barrier = jax.jit(cone.dual_barrier)
    grad, hessian = jax.jit(jax.grad(cone.dual_barrier)), jax.jit(jax.hessian(cone.dual_barrier))
    scaling, step_length = jax.jit(cone.scaling), jax.jit(cone.step_length)
    inside_both = jax.jit(lambda s, z: cone.primal_interior(s) & cone.dual_interior(z))
    e = np.asarray(cone.unit(jnp.float64))
    assert np.allclose(-grad(e), e, rtol=1e-14) and np.isclose(cone.margin(e), 1.0)
    assert np.isfinite(barrier(e))
    for gap in (0.0, 0.5, 0.9, 0.999):
        s, z = _power_interior(rng, alpha, False, gap), _power_interior(rng, alpha, True, gap)
        z_t, s_t = np.asarray(cone.conjugate_point(jnp.asarray(s))), -np.asarray(grad(jnp.asarray(z)))
        assert bool(cone.dual_interior(z_t)) and np.allclose(-grad(jnp.asarray(z_t)), s, rtol=1e-10, atol=1e-12)
        R = np.asarray(cone.hessian_factor(jnp.asarray(z)))
        assert np.allclose(R.T @ R, hessian(jnp.asarray(z)), rtol=1e-12, atol=1e-12 * np.abs(R).max() ** 2)
        w = scaling(jnp.asarray(s), jnp.asarray(z), 1.0)
        matrix = _matrices(cone, w)
        W = matrix["mul_w"]
        H = W.T @ W
        assert np.allclose(H @ z, s, rtol=1e-9) and np.allclose(H @ z_t, s_t, rtol=1e-9)
        assert np.allclose(matrix["mul_winv"], np.linalg.inv(W), rtol=1e-8)
        assert np.allclose(cone.corrector(w, s, z, np.zeros(3), np.zeros(3), 0.0), s, atol=1e-12)
        for _ in range(3):
            ds, dz = rng.normal(size=(2, 3)) * 3
            step = float(step_length(w, s, z, ds, dz))
            inside = [bool(inside_both(s + a * ds, z + a * dz)) for a in (0.999 * step, 1.001 * step)]
            assert inside == [True, False] or (np.isinf(step) and bool(inside_both(s + 2 * ds, z + 2 * dz)))
    # on the central path (s = -mu grad f*(z)) the scaling is the dual one, mu f*''(z)
    z = _power_interior(rng, alpha, True, 0.5)
    s = -0.3 * np.asarray(grad(jnp.asarray(z)))
    W = _matrices(cone, scaling(jnp.asarray(s), jnp.asarray(z), 1.0))["mul_w"]
    assert np.allclose(W.T @ W, 0.3 * np.asarray(hessian(jnp.asarray(z))), rtol=1e-10)


def test_product_cone_makes_one_segment_of_the_power_cones_whatever_their_exponents():
    alphas = (0.3, 0.7, 0.3)
    cone = product_cone(Cones(nonneg=1, exp=1, power=alphas))
    assert cone.dim == 13 and cone.degree == 1 + 3 + 9 and not cone.symmetric
    assert [(type(c), rows.tolist()) for c, rows in cone.segments] == [
        (Nonnegative, [[0]]), (Exponential, [[1, 2, 3]]), (Power, [[4, 5, 6], [7, 8, 9], [10, 11, 12]])]
    # each cone keeps its own exponent: the unit point is its central point
    unit = np.asarray(cone.unit(jnp.float64))
    assert np.allclose(unit[4:].reshape(3, 3), [Power(a).central(jnp.float64) for a in alphas], rtol=1e-15)
    s, z = jnp.asarray(unit), jnp.asarray(unit).at[4:].multiply(1.5)
    w = cone.scaling(s, z, jnp.asarray(1.0))
    for i, a in enumerate(alphas):
        rows = slice(4 + 3 * i, 7 + 3 * i)
        single = Power(a).scaling(s[rows], z[rows], jnp.asarray(1.0))
        assert np.allclose(cone.mul("mul_w", w, z)[rows], Power(a).mul_w(single, z[rows]), rtol=1e-12)
    with pytest.raises(ValueError, match="alpha"):
        Power(1.0)


def test_power_cone_programs_solve_certify_and_batch():
    data, truths = power_batch()
    batched = jax.jit(jax.vmap(lambda A, b, c: conic_ip_solve(A, b, c, POWER.cones)))
    points, infos = batched(*data)
    assert np.all(np.asarray(infos.iterations) <= 30)
    check_power_batch(points, infos, data, truths)


# ----------------------------------------------------------------------------- solutions

def _dual_checks(A, b, c, point, cones):
    """``y`` is an optimal dual: ``A'y + c = 0``, ``y in K*`` and ``-b'y = c'x``."""
    x, y = np.asarray(point.x), np.asarray(point.y)
    assert np.abs(A.T @ y + c).max() <= 1e-9 * (1 + np.abs(c).max())
    assert cone_violation(y, cones, dual=True) <= 1e-9
    assert abs(b @ y + c @ x) <= 1e-8 * (1 + abs(c @ x))


@pytest.mark.parametrize("name", FAMILIES)
def test_solution_matches_the_optimum_and_clarabel(name):
    family = FAMILIES[name]
    agreed = 0
    for seed in range(5):
        (A, b, c), truth = feasible_instance(family, seed)
        point, info = solve(A, b, c, family.cones)
        assert int(info.status) == status.SOLVED and float(info.residual) <= 1e-10
        assert int(info.iterations) <= 30
        assert point.x.dtype == jnp.float64
        assert np.allclose(point.x, truth.x, atol=1e-7) and np.allclose(point.s, truth.s, atol=1e-7)
        assert cone_violation(np.asarray(point.s), family.cones, dual=False) <= 1e-9
        _dual_checks(A, b, c, point, family.cones)
        # The dual is unique here but, where s and y of a cone both lie on its boundary, determined only to
        # about the square root of the final complementarity by any interior point (Clarabel's too).
        assert np.allclose(point.y, truth.y, atol=1e-3)
        assert np.isclose(c @ point.x, c @ truth.x, rtol=1e-9, atol=1e-9)
        ref_status, value, x_ref, _ = cvxpy_reference(A, b, c, family.cones)
        if ref_status == cp.OPTIMAL:  # Clarabel calls a few of the SDPs inaccurate
            agreed += 1
            assert np.isclose(c @ point.x, value, rtol=1e-7, atol=1e-7)
            assert np.allclose(point.x, x_ref, atol=1e-6)
    assert agreed >= 3


def degenerate_lp(seed: int):
    """An LP in the layout of ``LP`` with two identical equality rows, ten active inequalities for eight
    unknowns (a degenerate vertex) of which five have a zero multiplier, and a face of solutions."""
    rng = np.random.default_rng(seed)
    m, n = LP.cones.dim, LP.n
    A = rng.normal(size=(m, n))
    A[1] = A[0]
    x = rng.normal(size=n)
    s = np.r_[0.0, 0.0, np.zeros(10), rng.uniform(0.5, 2.0, m - 12)]
    y = np.r_[rng.normal(size=2), rng.uniform(0.5, 2.0, 5), np.zeros(m - 7)]
    return A, A @ x + s, -A.T @ y


def test_degenerate_lp_with_dependent_equalities_is_solved_to_the_optimal_value():
    for seed in range(3):
        A, b, c = degenerate_lp(seed)
        point, info = solve(A, b, c, LP.cones)
        assert int(info.status) == status.SOLVED and int(info.iterations) <= 30
        ref_status, value, _, _ = cvxpy_reference(A, b, c, LP.cones)
        assert ref_status == cp.OPTIMAL and np.isclose(c @ point.x, value, rtol=1e-7, atol=1e-7)
        x, s = np.asarray(point.x), np.asarray(point.s)
        assert np.abs(A @ x + s - b).max() <= 1e-9 * (1 + np.abs(b).max())
        assert cone_violation(s, LP.cones, dual=False) <= 1e-9
        _dual_checks(A, b, c, point, LP.cones)


@pytest.mark.parametrize("name", FAMILIES)
def test_infeasible_and_unbounded_are_certified(name):
    family = FAMILIES[name]
    A, b, c = infeasible_instance(family, 3)
    assert cvxpy_reference(A, b, c, family.cones)[0] == cp.INFEASIBLE
    point, info = solve(A, b, c, family.cones)
    assert int(info.status) == status.INFEASIBLE and int(info.iterations) <= 30
    assert np.isclose(b @ point.y, -1) and np.abs(A.T @ point.y).max() < 1e-6
    assert cone_violation(np.asarray(point.y), family.cones, dual=True) <= 1e-12
    assert np.isnan(point.x).all() and np.isnan(point.s).all()

    A, b, c = unbounded_instance(family, 4)
    assert cvxpy_reference(A, b, c, family.cones)[0] == cp.UNBOUNDED
    point, info = solve(A, b, c, family.cones)
    assert int(info.status) == status.UNBOUNDED and int(info.iterations) <= 30
    assert np.isclose(c @ point.x, -1) and np.abs(A @ point.x + point.s).max() < 1e-6
    assert cone_violation(np.asarray(point.s), family.cones, dual=False) <= 1e-12
    assert np.isnan(point.y).all()


def _infeasible_with_a_ray(rng: np.random.Generator, n: int = 6, m: int = 8):
    """``G x <= h`` asking ``g'x <= h0`` and ``g'x >= h0 + 1`` (infeasible), with a direction ``d`` along which no row
    grows and ``c`` falls: the dual is infeasible too, and the embedding approaches both certificates."""
    G, d = rng.normal(size=(m, n)), rng.normal(size=n)
    G[2:] -= np.outer(np.maximum(G[2:] @ d, 0) + 0.1, d) / (d @ d)
    G[0] -= (G[0] @ d) / (d @ d) * d
    G[1] = -G[0]
    h = G @ rng.normal(size=n) + rng.uniform(0.1, 1.0, m)
    h[1] = -h[0] - 1
    c = rng.normal(size=n)
    c -= (c @ d) / (d @ d) * d + 0.5 * d
    return G, h, c


def test_an_infeasible_problem_with_a_ray_is_infeasible_not_unbounded():
    rng = np.random.default_rng(21)
    G, h, c = (np.stack(v) for v in zip(*(_infeasible_with_a_ray(rng) for _ in range(12))))
    cones = Cones(nonneg=G.shape[1])
    assert cvxpy_reference(G[0], h[0], c[0], cones)[0] == cp.INFEASIBLE
    for solver in (lambda A, b, c: solve(A, b, c, cones), lambda A, b, c: conic_solve(A, b, c, cones)):
        point, info = jax.vmap(solver)(G, h, c)
        assert (np.asarray(info.status) == status.INFEASIBLE).all(), np.asarray(info.status)


# ----------------------------------------------------------------------------- transformations, dtypes, stops

def test_vmap_over_different_data_matches_single_solves():
    instances = [feasible_instance(LP, 5)[0], infeasible_instance(LP, 6), unbounded_instance(LP, 7),
                 feasible_instance(LP, 8)[0]]
    A, b, c = (np.stack(parts) for parts in zip(*instances))
    batched = jax.jit(jax.vmap(lambda A, b, c: conic_ip_solve(A, b, c, LP.cones)),
                      compiler_options=xla_options(LP.cones))
    points, infos = batched(A, b, c)
    assert infos.status.tolist() == [status.SOLVED, status.INFEASIBLE, status.UNBOUNDED, status.SOLVED]
    for i, data in enumerate(instances):
        point, info = solve(*data, LP.cones)
        assert int(infos.iterations[i]) == int(info.iterations)
        for got, want in zip(points, point):
            assert np.allclose(got[i], want, atol=1e-12, equal_nan=True)


def test_float32_stays_float32_and_solves_loosely():
    (A, b, c), truth = feasible_instance(LP, 9)
    A, b, c = (v.astype(np.float32) for v in (A, b, c))
    point, info = solve(A, b, c, LP.cones)
    assert point.x.dtype == point.y.dtype == info.residual.dtype == jnp.float32
    assert int(info.status) == status.SOLVED and float(info.residual) <= 1.2e-5
    assert np.allclose(point.x, truth.x, atol=1e-4) and np.allclose(point.s, truth.s, atol=1e-4)


def test_warm_start_at_the_solution_stops_at_once_and_max_iterations_is_never_solved():
    (A, b, c), truth = feasible_instance(LP, 2)
    point, info = solve(A, b, c, LP.cones, init=ConicPoint(*truth), maxiter=3)
    assert int(info.status) == status.SOLVED and int(info.iterations) == 0
    assert np.allclose(point.x, truth.x, atol=1e-12)
    far = ConicPoint(truth.x + 1, truth.y + 1, truth.s + 1)
    point, info = solve(A, b, c, LP.cones, init=far, maxiter=3)
    assert int(info.status) == status.MAX_ITERATIONS and int(info.iterations) == 3
    assert float(info.residual) > 1e-10


def test_non_finite_data_is_a_numerical_error():
    (A, b, c), _ = feasible_instance(LP, 0)
    A = A.copy()
    A[3, 2] = np.nan
    _, info = solve(A, b, c, LP.cones)
    assert int(info.status) == status.NUMERICAL_ERROR


def test_bad_input_raises_clear_errors():
    (A, b, c), truth = feasible_instance(LP, 0)
    with pytest.raises(ValueError, match="cones describe 18 rows"):
        conic_ip_solve(A[:-1], b[:-1], c, LP.cones)
    with pytest.raises(ValueError, match="c must have shape \\(8,\\)"):
        conic_ip_solve(A, b, np.r_[c, 1.0], LP.cones)
    with pytest.raises(TypeError, match="Cones instance"):
        conic_ip_solve(A, b, c, (2, 16))
    with pytest.raises(ValueError, match="maxiter"):
        conic_ip_solve(A, b, c, LP.cones, maxiter=0)
    with pytest.raises(ValueError, match="init must be a ConicPoint"):
        conic_ip_solve(A, b, c, LP.cones, init=ConicPoint(truth.x[:-1], truth.y, truth.s))


@pytest.mark.parametrize("module", [iteration, product, symmetric, exponential, power], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, extraglobs={"jnp": jnp, "Cones": Cones})
    assert result.attempted > 0 and result.failed == 0
