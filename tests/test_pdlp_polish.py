"""The polish of PDLP points: exact solutions of the active set where that verifies, PDLP's point where it does not.

Seeded sparse LPs and QPs built around a known unique solution (:func:`benchmarks.scale.build`: a transversal
of the active rows planted into ``A`` and ``G``), solved at PDLP's default tolerance. With the polish the
point and multipliers match the construction to rounding and the gradient of ``w'x`` matches a scipy solve
of the active-set system (:func:`benchmarks.scale.reference_gradient`); without it they are only as good
as the tolerance. A point stopped far from the solution keeps its honest status.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import sparse

from benchmarks.scale import build, reference_gradient
from optdsl.runtime.solvers import pdlp
from optdsl.runtime.solvers.pdhg import active_set as act
from optdsl.runtime.solvers.pdhg import problem as pb
from optdsl.runtime.status import MAX_ITERATIONS, SOLVED

N = 200


def _data(kind):
    s, inst, w = build(kind, N, seed=3)
    P = None if s["P"] is None else sparse.BCOO.from_scipy_sparse(s["P"])
    A, G = (sparse.BCOO.from_scipy_sparse(inst[k]) for k in ("A", "G"))
    return s, inst, w, P, A, G


@pytest.fixture(scope="module", params=["lp", "qp"])
def family(request):
    """A family's instance, its solutions with and without the polish, and the gradient of ``w'x`` in ``(c, b, h)``."""
    s, inst, w, P, A, G = _data(request.param)

    def solve(c, b, h, polish=True, maxiter=200_000):
        return pdlp(c, P=P, A=A, b=b, G=G, h=h, lower=s["lower"], upper=s["upper"], polish=polish, maxiter=maxiter)

    def loss(*theta):
        point, aux = solve(*theta)
        return jnp.asarray(w) @ point.x, (point, aux)

    theta = tuple(jnp.asarray(inst[k]) for k in ("c", "b", "h"))
    (_, polished), grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))(*theta)
    raw, far = jax.jit(lambda *t: (solve(*t, polish=False), solve(*t, maxiter=1)))(*theta)
    return dict(s=s, inst=inst, w=w, solve=solve, theta=theta, polished=polished, raw=raw, far=far, grad=grad)


def test_polished_point_is_the_construction_to_rounding(family):
    inst, (point, aux) = family["inst"], family["polished"]
    assert int(aux.status) == SOLVED and float(aux.residual) < 1e-10
    for name in ("x", "nu", "lam", "z"):
        np.testing.assert_allclose(np.asarray(getattr(point, name)), inst[name], atol=1e-8, rtol=0, err_msg=name)


def test_without_polish_the_point_is_only_as_good_as_the_tolerance(family):
    inst, (point, aux) = family["inst"], family["raw"]
    assert int(aux.status) == SOLVED
    assert np.max(np.abs(np.asarray(point.x) - inst["x"])) > 1e-8


def test_reported_active_set_is_the_constructions(family):
    inst, (_, aux) = family["inst"], family["polished"]
    s = family["s"]
    at_lower = (inst["z"] > 0) & np.isfinite(s["lower"])
    np.testing.assert_array_equal(np.asarray(aux.at_lower), at_lower)
    np.testing.assert_array_equal(np.asarray(aux.at_upper), inst["z"] < 0)
    np.testing.assert_array_equal(np.asarray(aux.active), inst["lam"] > 0)


def test_gradient_matches_a_direct_solve_of_the_active_set_system(family):
    reference, residual = reference_gradient(family["s"], family["inst"], family["w"])
    assert residual < 1e-12
    for got, want in zip(family["grad"], reference):
        np.testing.assert_allclose(np.asarray(got), want, atol=1e-8 * max(1.0, np.max(np.abs(want))), rtol=0)


def test_identify_reads_the_active_set_off_the_exact_solution(family):
    s, inst = family["s"], family["inst"]
    A, G = (jnp.asarray(inst[k].toarray()) for k in ("A", "G"))
    prob = pb.Problem(None, jnp.asarray(inst["c"]), A, jnp.asarray(inst["b"]), G, jnp.asarray(inst["h"]),
                      jnp.asarray(s["lower"]), jnp.asarray(s["upper"]))
    v = pb.view(prob, jnp.ones(A.shape[0] + G.shape[0]), jnp.ones(A.shape[1]))
    found = act.identify(v, jnp.asarray(inst["x"]), jnp.asarray(inst["lam"]), jnp.asarray(inst["z"]))
    np.testing.assert_array_equal(np.asarray(found.free), inst["z"] == 0)
    np.testing.assert_array_equal(np.asarray(found.rows), inst["lam"] > 0)


def test_a_point_far_from_the_solution_keeps_its_status(family):
    _, aux = family["far"]
    assert int(aux.status) == MAX_ITERATIONS
    assert float(aux.residual) > 1e-6


def test_polish_under_vmap_solves_each_instance(family):
    c, b, h = family["theta"]
    batch = (jnp.stack([c, c]), jnp.stack([b, b + 0.0]), jnp.stack([h, h + 0.1]))
    points, aux = jax.jit(jax.vmap(family["solve"]))(*batch)
    assert np.all(np.asarray(aux.status) == SOLVED) and np.all(np.asarray(aux.residual) < 1e-10)
    np.testing.assert_allclose(np.asarray(points.x[0]), family["inst"]["x"], atol=1e-8, rtol=0)
