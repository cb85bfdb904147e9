"""Implicit derivatives of PDLP solutions, against the dense QP interior point and central finite differences.

The families are seeded sparse LPs and QPs built around a unique, strictly complementary solution
(:func:`benchmarks.scale.instance`), so the active set is locally constant and the solution is
differentiable. A loss weighs every output ``(x, nu, lam, z)`` with random weights; its gradient in
``c, b, h``, the bounds and the values of ``P, A, G`` (the ``data`` of BCOO matrices) is compared with
the same loss through :func:`~optdsl.runtime.solvers.interior_point.solve_qp` on the dense data (the bounds
as inequality rows). One vmapped program per family computes every instance's loss and gradient, and
the losses at the finite-difference points too.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import sparse

from benchmarks.scale import instance, structure
from optdsl.runtime.solvers import pdlp
from optdsl.runtime.solvers.interior_point import solve_qp
from optdsl.runtime.status import NUMERICAL_ERROR, SOLVED

TOL = 1e-10
#: Differentiated data, in the order of the loss's arguments.
NAMES = ("c", "b", "h", "lower", "upper", "A", "G", "P")


def weights(rng, n, p, m):
    return {k: rng.standard_normal(size) for k, size in (("x", n), ("nu", p), ("lam", m), ("z", n))}


def weighted(w, x, nu, lam, z):
    return w["x"] @ x + w["nu"] @ nu + w["lam"] @ lam + w["z"] @ z


def pdlp_loss(w, indices, shapes, data, dense=False):
    """The weighted outputs of pdlp on ``data`` (matrices as BCOO values at ``indices``, or dense)."""
    def matrix(name):
        if data[name] is None or dense:
            return data[name]
        return sparse.BCOO((data[name], indices[name]), shape=shapes[name])

    point, aux = pdlp(data["c"], P=matrix("P"), A=matrix("A"), b=data["b"], G=matrix("G"), h=data["h"],
                      lower=data["lower"], upper=data["upper"], tol=TOL, maxiter=200_000)
    return weighted(w, *point), aux.status


def dense_loss(w, lower, upper, data):
    """The same loss by the dense QP interior point, the finite bounds as rows of ``G``."""
    n = data["c"].shape[0]
    lo, hi = np.flatnonzero(np.isfinite(lower)), np.flatnonzero(np.isfinite(upper))
    eye = jnp.eye(n)
    G = jnp.concatenate([data["G"], -eye[lo], eye[hi]])
    h = jnp.concatenate([data["h"], -data["lower"][lo], data["upper"][hi]])
    Q = jnp.zeros((n, n)) if data["P"] is None else data["P"]
    point, aux = solve_qp(Q, data["c"], data["A"], data["b"], G, h, tol=1e-12)
    m = data["h"].shape[0]
    z = jnp.zeros(n).at[lo].add(point.lam[m:m + lo.size]).at[hi].add(-point.lam[m + lo.size:])
    return weighted(w, point.x, point.nu, point.lam[:m], z), aux.status


def family(seed, n, p, m, qp, count, fd_steps):
    """``count`` instances of one structure, their pdlp gradients (one vmapped program), the interior point's
    gradients, and pdlp's losses at ``data +- eps * direction`` for ``fd_steps`` random directions."""
    rng = np.random.default_rng(seed)
    s = structure(rng, n, p, m, qp)
    mats = {k: None if s[k] is None else sparse.BCOO.from_scipy_sparse(s[k]) for k in ("A", "G", "P")}
    indices = {k: None if M is None else M.indices for k, M in mats.items()}
    shapes = {k: None if M is None else M.shape for k, M in mats.items()}
    insts = [instance(rng, s) for _ in range(count)]
    w = weights(rng, n, p, m)

    def data_of(inst):
        out = {k: inst[k] for k in ("c", "b", "h")}
        out.update(lower=s["lower"], upper=s["upper"], **{k: None if M is None else np.asarray(M.data)
                                                          for k, M in mats.items()})
        return out

    base = [data_of(inst) for inst in insts]
    directions = []
    for _ in range(fd_steps):
        d = {k: None if v is None else rng.standard_normal(np.shape(v)) * np.isfinite(v) for k, v in base[0].items()}
        if mats["P"] is not None:  # a symmetric change of P
            sym = rng.standard_normal((n, n))
            d["P"] = (sym + sym.T)[tuple(np.asarray(indices["P"]).T)]
        directions.append(d)
    eps = 1e-5
    shifted = [{k: None if v is None else v + sign * eps * d[k] for k, v in base[0].items()}
               for d in directions for sign in (1, -1)]
    batch = base + shifted
    stacked = {k: None if batch[0][k] is None else np.stack([b[k] for b in batch]) for k in NAMES}
    loss = lambda data: pdlp_loss(w, indices, shapes, data)
    (values, status), grads = jax.jit(jax.vmap(jax.value_and_grad(loss, has_aux=True)))(stacked)
    return dict(s=s, w=w, base=base, directions=directions, eps=eps, values=np.asarray(values),
                status=np.asarray(status), grads=jax.tree.map(np.asarray, grads), indices=indices, shapes=shapes,
                count=count)


@pytest.fixture(scope="module")
def lp():
    return family(0, 60, 6, 36, qp=False, count=2, fd_steps=2)


@pytest.fixture(scope="module")
def qp():
    return family(1, 40, 4, 24, qp=True, count=2, fd_steps=2)


def densify(fam, data):
    out = dict(data)
    for k in ("A", "G", "P"):
        if data[k] is not None:
            out[k] = sparse.BCOO((data[k], fam["indices"][k]), shape=fam["shapes"][k]).todense()
    return out


def entries(fam, name, dense_grad):
    """A gradient in a dense matrix's entries at the BCOO entries' positions."""
    idx = np.asarray(fam["indices"][name])
    return np.asarray(dense_grad)[idx[:, 0], idx[:, 1]]


@pytest.mark.parametrize("name", ["lp", "qp"])
def test_gradients_match_interior_point(name, request):
    fam = request.getfixturevalue(name)
    s = fam["s"]
    assert np.all(fam["status"] == SOLVED)
    loss = lambda data: dense_loss(fam["w"], s["lower"], s["upper"], data)
    reference = jax.jit(jax.value_and_grad(loss, has_aux=True))
    for i in range(fam["count"]):
        (value, status), grad = reference(jax.tree.map(jnp.asarray, densify(fam, fam["base"][i])))
        assert int(status) == SOLVED
        np.testing.assert_allclose(fam["values"][i], value, rtol=1e-5)  # the multipliers to 1e-5 (test_pdlp)
        for k in NAMES:
            got = fam["grads"][k]
            if got is None:
                continue
            got, want = got[i], np.asarray(grad[k])
            if k == "P":  # the interior point differentiates 0.5 x'Px, pdlp P x: compare the symmetric parts
                full = np.zeros(fam["shapes"]["P"])
                np.add.at(full, tuple(np.asarray(fam["indices"]["P"]).T), got)
                got, want = entries(fam, "P", full + full.T), entries(fam, "P", want + want.T)
            elif k in ("A", "G"):
                want = entries(fam, k, want)
            elif k in ("lower", "upper"):
                got, want = got[np.isfinite(s[k])], want[np.isfinite(s[k])]
            scale = max(1.0, np.max(np.abs(want)))
            assert np.max(np.abs(got - want)) <= 1e-6 * scale, k


@pytest.mark.parametrize("name", ["lp", "qp"])
def test_gradients_match_finite_differences(name, request):
    """Directional derivatives: the solution is affine in ``c, b, h`` and the bounds on its active set, and
    smooth in the matrices: central differences with ``eps = 1e-5``. Their error is the losses' error over
    ``eps`` (multipliers to about 1e-8 at ``TOL``): 1e-4 relative; the interior point comparison is the tight one."""
    fam = request.getfixturevalue(name)
    count, eps = fam["count"], fam["eps"]
    for j, d in enumerate(fam["directions"]):
        plus, minus = fam["values"][count + 2 * j], fam["values"][count + 2 * j + 1]
        fd = (plus - minus) / (2 * eps)
        analytic = sum(np.sum(fam["grads"][k][0] * d[k]) for k in NAMES if d[k] is not None)
        np.testing.assert_allclose(analytic, fd, rtol=1e-4)


def test_dense_and_bcoo_agree_under_jit(lp):
    loss = lambda data: pdlp_loss(lp["w"], lp["indices"], lp["shapes"], data, dense=True)
    data = jax.tree.map(jnp.asarray, densify(lp, lp["base"][0]))
    (value, status), grad = jax.jit(jax.value_and_grad(loss, has_aux=True))(data)
    assert int(status) == SOLVED
    np.testing.assert_allclose(value, lp["values"][0], rtol=1e-8)
    for k in ("c", "b", "h", "lower", "upper"):
        np.testing.assert_allclose(grad[k], lp["grads"][k][0], rtol=1e-6, atol=1e-8)
    for k in ("A", "G"):
        np.testing.assert_allclose(entries(lp, k, grad[k]), lp["grads"][k][0], rtol=1e-6, atol=1e-8)


def test_forward_and_reverse_mode_agree(qp):
    """``jvp`` along a direction equals the gradient's inner product with it."""
    loss = lambda data: pdlp_loss(qp["w"], qp["indices"], qp["shapes"], data)[0]
    data = jax.tree.map(lambda v: None if v is None else jnp.asarray(v), qp["base"][0])
    d = jax.tree.map(lambda v: None if v is None else jnp.asarray(v), qp["directions"][0])
    _, derivative = jax.jit(lambda a, t: jax.jvp(loss, (a,), (t,)))(data, d)
    np.testing.assert_allclose(derivative, sum(np.sum(qp["grads"][k][0] * d[k]) for k in NAMES if d[k] is not None),
                               rtol=1e-8)


def test_unsolved_instance_has_zero_finite_gradient():
    """A NaN cost ends in numerical_error; its gradient is zero (no information), not NaN."""
    c = jnp.array([jnp.nan, 1.0])
    A, b = jnp.array([[1.0, 2.0]]), jnp.array([2.0])

    def loss(c, b):
        point, aux = pdlp(c, A=A, b=b, lower=0.0)
        return jnp.sum(jnp.nan_to_num(point.x)) + jnp.sum(jnp.nan_to_num(point.nu)), aux.status

    (_, status), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(c, b)
    assert int(status) == NUMERICAL_ERROR
    assert all(np.all(np.asarray(g) == 0) for g in grads)
