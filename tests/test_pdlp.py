"""PDLP (restarted PDHG) on seeded random sparse LPs and QPs with a known unique solution, against Clarabel.

Each instance is built around a chosen solution (:func:`benchmarks.scale.instance`): a vertex (LP)
or a point (QP) whose active constraints are linearly independent, and multipliers strictly positive
on them, so the data are feasible and bounded and the solution and multipliers are unique. Compiled
programs are shared through module-scoped fixtures (one vmapped program per family).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import sparse

from benchmarks.scale import instance, reference, sparse_matrix, structure
from test_conic_ip import _infeasible_with_a_ray
from optdsl.errors import ArgumentError, ArgumentTypeError
from optdsl.runtime.solvers import LinearOperator, pdlp
from optdsl.runtime.status import MAX_ITERATIONS, NUMERICAL_ERROR, SOLVED, describe_all

#: Tolerance the families are solved to: tighter than the default, so that the solutions compare at 1e-5.
TOL = 1e-10


def clarabel(s, inst):
    """Clarabel's ``(objective, x, nu, lam, z)``, multipliers in pdlp's signs."""
    prob, x, cons = reference(s, inst)
    z = np.zeros(x.shape[0])
    z[np.isfinite(s["lower"])] += cons[2].dual_value
    z[np.isfinite(s["upper"])] -= cons[3].dual_value
    return prob.value, x.value, cons[0].dual_value, cons[1].dual_value, z


def bcoo(M):
    return None if M is None else sparse.BCOO.from_scipy_sparse(M)


def solve(c, b, h, P, A, G, lower, upper):
    return pdlp(c, P=P, A=A, b=b, G=G, h=h, lower=lower, upper=upper, tol=TOL, maxiter=200_000)


def solve_default(c, b, h, P, A, G, lower, upper):
    return pdlp(c, P=P, A=A, b=b, G=G, h=h, lower=lower, upper=upper, maxiter=200_000)


def objective(s, inst, x):
    quad = 0 if s["P"] is None else 0.5 * x @ (s["P"] @ x)
    return quad + inst["c"] @ x


def family(seed, n, p, m, qp, count):
    rng = np.random.default_rng(seed)
    s = structure(rng, n, p, m, qp)
    insts = [instance(rng, s) for _ in range(count)]
    stacked = {k: np.stack([inst[k] for inst in insts]) for k in ("c", "b", "h")}
    shared = (bcoo(s["P"]), bcoo(s["A"]), bcoo(s["G"]), s["lower"], s["upper"])
    batched = jax.jit(jax.vmap(solve, in_axes=(0, 0, 0) + (None,) * 5))
    point, aux = batched(stacked["c"], stacked["b"], stacked["h"], *shared)
    return dict(s=s, insts=insts, shared=shared, point=jax.tree.map(np.asarray, point),
                aux=jax.tree.map(np.asarray, aux))


@pytest.fixture(scope="module")
def lp():
    return family(0, 200, 20, 120, qp=False, count=3)


@pytest.fixture(scope="module")
def qp():
    return family(1, 120, 12, 70, qp=True, count=2)


@pytest.fixture(scope="module")
def single_lp(lp):
    """The LP family's first instance solved alone: BCOO, dense and operator inputs."""
    inst, (_, A, G, lower, upper) = lp["insts"][0], lp["shared"]
    args = (inst["c"], inst["b"], inst["h"])
    f = jax.jit(solve)
    op = lambda M: LinearOperator(M.shape, lambda M, v: M @ v, data=jnp.asarray(M.todense()))
    return {name: f(*args, None, A_, G_, lower, upper) for name, (A_, G_) in
            {"bcoo": (A, G), "dense": (A.todense(), G.todense()), "operator": (op(A), op(G))}.items()}


@pytest.mark.parametrize("name", ["lp", "qp"])
def test_family_matches_clarabel(name, request):
    fam = request.getfixturevalue(name)
    s, point, aux = fam["s"], fam["point"], fam["aux"]
    assert describe_all(aux.status) == ["solved"] * len(fam["insts"])
    assert np.all(aux.residual <= TOL)
    for i, inst in enumerate(fam["insts"]):
        ref_obj, ref_x, ref_nu, ref_lam, ref_z = clarabel(s, inst)
        np.testing.assert_allclose(objective(s, inst, point.x[i]), ref_obj, rtol=1e-7)
        np.testing.assert_allclose(point.x[i], ref_x, atol=1e-5)
        np.testing.assert_allclose(point.nu[i], ref_nu, atol=1e-5)
        np.testing.assert_allclose(point.lam[i], ref_lam, atol=1e-5)
        np.testing.assert_allclose(point.z[i], ref_z, atol=1e-5)
        # the construction's solution is Clarabel's: it is unique
        np.testing.assert_allclose(ref_x, inst["x"], atol=1e-6)
        np.testing.assert_allclose(ref_lam, inst["lam"], atol=1e-6)


@pytest.mark.parametrize("name", ["lp", "qp"])
def test_active_set(name, request):
    fam = request.getfixturevalue(name)
    aux = fam["aux"]
    for i, inst in enumerate(fam["insts"]):
        np.testing.assert_array_equal(aux.active[i], inst["lam"] > 0)
        np.testing.assert_array_equal(aux.at_lower[i], inst["z"] > 0)
        np.testing.assert_array_equal(aux.at_upper[i], inst["z"] < 0)


def test_vmap_equals_one_by_one(lp, single_lp):
    point, aux = single_lp["bcoo"]
    assert int(aux.status) == SOLVED and int(aux.iterations) == int(lp["aux"].iterations[0])
    for field in ("x", "nu", "lam", "z"):
        np.testing.assert_allclose(getattr(point, field), getattr(lp["point"], field)[0], rtol=1e-9, atol=1e-12)


def test_dense_bcoo_operator_agree(single_lp):
    (ref, ref_aux), (dense, dense_aux), (op, op_aux) = (single_lp[k] for k in ("bcoo", "dense", "operator"))
    assert [int(a.status) for a in (ref_aux, dense_aux, op_aux)] == [SOLVED] * 3
    for field in ("x", "nu", "lam", "z"):
        np.testing.assert_allclose(getattr(dense, field), getattr(ref, field), atol=1e-5)
        np.testing.assert_allclose(getattr(op, field), getattr(ref, field), atol=1e-5)


def test_a_warm_start_reaches_the_same_point_sooner_with_the_same_derivative(lp):
    inst, (_, A, G, lower, upper) = lp["insts"][0], lp["shared"]
    start = jax.tree.map(lambda v: v[0], lp["point"])
    c = inst["c"] * (1 + 1e-4 * np.random.default_rng(4).standard_normal(inst["c"].shape))
    weights = np.random.default_rng(5).standard_normal(c.shape)

    @jax.jit
    def run(c, init):
        point, aux = pdlp(c, A=A, b=inst["b"], G=G, h=inst["h"], lower=lower, upper=upper, tol=TOL,
                          maxiter=200_000, init=init)
        return point.x @ weights, aux

    (cold, cold_aux), cold_grad = jax.value_and_grad(run, has_aux=True)(c, None)
    (warm, warm_aux), warm_grad = jax.value_and_grad(run, has_aux=True)(c, start)
    assert int(cold_aux.status) == SOLVED and int(warm_aux.status) == SOLVED
    assert int(warm_aux.iterations) < int(cold_aux.iterations) / 2
    np.testing.assert_allclose(warm, cold, rtol=1e-9)
    np.testing.assert_allclose(warm_grad, cold_grad, atol=1e-8)
    with pytest.raises(ArgumentError, match=r"init.nu must be a vector of shape \(20,\)"):
        pdlp(c, A=A, b=inst["b"], G=G, h=inst["h"], init=(start.x, start.nu[:3], start.lam))


def small_instances(rng, n=30, p=5, m=20):
    """Two infeasible LPs (a row of ``G`` stated twice with contradictory sides; ``c >= 0``, so the dual is
    feasible), two unbounded ones (feasible, with a ray ``d >= 0`` on columns ``A`` does not touch,
    ``G d <= 0``, ``c'd < 0``) and a feasible bounded one (``c >= 0``), all with ``x >= 0``."""
    out = []
    for kind in ("infeasible", "infeasible", "unbounded", "unbounded", "feasible"):
        A, G = sparse_matrix(rng, p, n).toarray(), sparse_matrix(rng, m, n).toarray()
        x0 = rng.random(n)
        c = rng.standard_normal(n)
        if kind == "unbounded":
            ray = np.zeros(n)
            ray[:3] = 1 + rng.random(3)
            A[:, :3] = 0
            G[G @ ray > 0] *= -1
            c[:3] = -1
        else:
            c = np.abs(c)
        h = G @ x0 + rng.random(m)
        if kind == "infeasible":
            G[-1], h[-1] = -G[0], -h[0] - 1
        out.append(dict(kind=kind, c=c, A=A, b=A @ x0, G=G, h=h))
    return out


@pytest.fixture(scope="module")
def small():
    """The small LPs in one vmapped program: the default tolerance, one the feasible LP cannot meet, and the
    feasible LP with a NaN cost."""
    insts = small_instances(np.random.default_rng(2))
    insts.append(dict(insts[-1], kind="nan", c=np.where(np.arange(30) == 0, np.nan, insts[-1]["c"])))
    stacked = {k: np.stack([inst[k] for inst in insts]) for k in ("c", "A", "b", "G", "h")}
    tols = np.array([1e-6] * 4 + [1e-30, 1e-6])
    lower = np.zeros((len(insts), 30))
    lower[0] = insts[0]["lower"] = 0.1  # still infeasible
    solve_one = lambda c, A, b, G, h, lower, tol: pdlp(c, A=A, b=b, G=G, h=h, lower=lower, tol=tol, maxiter=20_000)
    point, aux = jax.jit(jax.vmap(solve_one))(*(stacked[k] for k in ("c", "A", "b", "G", "h")), lower, tols)
    return insts, jax.tree.map(np.asarray, point), jax.tree.map(np.asarray, aux)


def test_infeasible_and_unbounded_are_certified(small):
    insts, point, aux = small
    assert describe_all(aux.status[:4]) == ["infeasible", "infeasible", "unbounded", "unbounded"]
    assert np.all(aux.residual[:4] <= 1e-6)
    for i, inst in enumerate(insts[:4]):
        x, nu, lam, z = point.x[i], point.nu[i], point.lam[i], point.z[i]
        if inst["kind"] == "infeasible":  # A'nu + G'lam = z >= 0 (lower bounds only), b'nu + h'lam - l'z = -1
            assert np.all(x == 0) and np.all(lam >= 0) and np.all(z >= 0)
            np.testing.assert_allclose(inst["b"] @ nu + inst["h"] @ lam - inst.get("lower", 0) * z.sum(), -1,
                                       rtol=1e-12)
            assert np.max(np.abs(inst["A"].T @ nu + inst["G"].T @ lam - z)) <= 1e-6
        else:  # A x = 0, G x <= 0, x >= 0, c'x = -1
            assert np.all(nu == 0) and np.all(lam == 0) and np.all(x >= 0)
            np.testing.assert_allclose(inst["c"] @ x, -1, rtol=1e-12)
            assert np.max(np.abs(inst["A"] @ x)) <= 1e-6 and np.max(inst["G"] @ x) <= 1e-6


def test_an_infeasible_lp_with_a_ray_is_infeasible_not_unbounded():
    rng = np.random.default_rng(21)
    G, h, c = (np.stack(v) for v in zip(*(_infeasible_with_a_ray(rng) for _ in range(24))))
    aux = jax.jit(jax.vmap(lambda G, h, c: pdlp(c, G=G, h=h)[1]))(G, h, c)
    assert "unbounded" not in describe_all(aux.status)
    assert describe_all(aux.status).count("infeasible") >= 22


def test_iteration_limit_is_not_solved(small):
    insts, point, aux = small
    assert int(aux.status[4]) == MAX_ITERATIONS and int(aux.iterations[4]) == 20_000
    assert 1e-30 < aux.residual[4] < 1e-6  # what was reached, reported


def test_non_finite_data_is_a_numerical_error(small):
    _, point, aux = small
    assert int(aux.status[5]) == NUMERICAL_ERROR and int(aux.iterations[5]) == 64


def test_float32_stays_float32(lp):
    """The LP family's first instance in float32 (dense): solved to the float32 default tolerance."""
    s, inst = lp["s"], lp["insts"][0]
    f32 = lambda v: np.asarray(v, np.float32)
    point, aux = jax.jit(lambda *a: pdlp(a[0], A=a[1], b=a[2], G=a[3], h=a[4], lower=a[5], upper=a[6]))(
        f32(inst["c"]), f32(s["A"].toarray()), f32(inst["b"]), f32(s["G"].toarray()), f32(inst["h"]),
        f32(s["lower"]), f32(s["upper"]))
    assert int(aux.status) == SOLVED and aux.residual.dtype == jnp.float32
    assert all(getattr(point, f).dtype == jnp.float32 for f in ("x", "nu", "lam", "z"))
    np.testing.assert_allclose(objective(s, inst, np.asarray(point.x, np.float64)),
                               objective(s, inst, inst["x"]), rtol=1e-3)


def test_bad_input_is_refused():
    c, A, b = np.ones(3), np.ones((2, 3)), np.ones(2)
    cases = [
        (dict(A=np.ones((2, 4)), b=b), "A must have shape \\(2, 3\\), got \\(2, 4\\)"),
        (dict(A=A, b=np.ones(3)), "A must have shape \\(3, 3\\)"),
        (dict(A=A), "A and b come together"),
        (dict(G=A, h=np.ones((2, 1))), "h must be a vector"),
        (dict(P=np.eye(2)), "P must have shape \\(3, 3\\)"),
        (dict(lower=np.zeros(4)), "lower must be a vector of shape \\(3,\\), got shape \\(4,\\)"),
        (dict(A=LinearOperator((2, 3), lambda v: jnp.ones(5) * v.sum()), b=b),
         "A.matvec must map shape \\(3,\\) to \\(2,\\), got \\(5,\\)"),
        (dict(A=sparse.BCOO.fromdense(np.ones((4, 2, 3)), n_batch=1), b=b), "no batch or dense dimensions"),
        (dict(maxiter=-1), "maxiter must be an int >= 0"),
        (dict(tol=0.0), "tol must be positive"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ArgumentError, match=message):
            pdlp(c, **kwargs)
    with pytest.raises(ArgumentError, match="c must be a vector"):
        pdlp(np.ones((3, 1)))
    with pytest.raises(ArgumentTypeError, match="must hold real numbers"):
        pdlp(c, A=np.ones((2, 3), complex), b=b)
    with pytest.raises(ArgumentError, match="LinearOperator shape must be two"):
        LinearOperator((2,), lambda v: v)


@pytest.mark.slow
def test_large_sparse_lp_matches_clarabel():
    """n = 10^4 (BCOO, 6.3e4 non-zeros): solved at the default tolerance, objective as Clarabel's to 1e-5."""
    rng = np.random.default_rng(3)
    s = structure(rng, 10_000, 500, 5_000, qp=False)
    inst = instance(rng, s, unique=False)
    point, aux = jax.jit(solve_default)(inst["c"], inst["b"], inst["h"], None, bcoo(s["A"]), bcoo(s["G"]),
                                        s["lower"], s["upper"])
    assert int(aux.status) == SOLVED and aux.residual <= 1e-6
    x = np.asarray(point.x)
    assert np.all(x >= s["lower"]) and np.all(x <= s["upper"])
    np.testing.assert_allclose(objective(s, inst, x), objective(s, inst, inst["x"]), rtol=1e-5)
    np.testing.assert_allclose(objective(s, inst, x), clarabel(s, inst)[0], rtol=1e-5)
