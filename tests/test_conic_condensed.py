"""The conic interior point's condensed Newton matrix ``A' W^-1 W^-T A``: formed per cone, with the second-order
cones' rank-one updates of a constant, it equals the Gram matrix of the scaled rows ``W^-T A`` to rounding."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optdsl.runtime.solvers.cones import Cones, svec
from optdsl.runtime.solvers.conic_ip.product import product_cone
from optdsl.runtime.solvers.conic_ip.symmetric import SecondOrder
from optdsl.runtime.solvers.interior_point import newton_step

#: Second-order cones on both sides of the structured rule at ``n = 13`` (``4 dim >= n``), with every other kind.
LAYOUT = Cones(zero=2, nonneg=3, soc=(3, 5, 5, 16), psd=(2,), exp=1)
N = 13


def _pair(cones: Cones, rng: np.random.Generator, depth: float) -> tuple[jax.Array, jax.Array]:
    """Random interior ``(s, z)`` on the cone rows of ``cones``, nearly complementary for ``depth`` small: each
    within ``depth`` (relative) of the boundary, as at the end of an interior point (the exponential cone aside)."""
    s_parts, z_parts = [], []
    for _ in range(cones.nonneg):
        r = rng.random(2) + 0.5
        s_parts.append([r[0] * depth])
        z_parts.append([r[1]])
    for q in cones.soc:
        x = rng.normal(size=q - 1)
        t = np.linalg.norm(x) * (1 + depth)
        s_parts.append(np.concatenate([[t], x]))
        z_parts.append(rng.lognormal() * np.concatenate([[t], -x]))
    for k in cones.psd:
        U = np.linalg.qr(rng.normal(size=(k, k)))[0]
        d = np.where(np.arange(k) < k // 2, 1.0, depth)
        s_parts.append(np.asarray(svec(jnp.asarray(U @ np.diag(d) @ U.T))))
        z_parts.append(np.asarray(svec(jnp.asarray(U @ np.diag(d[::-1]) @ U.T))))
    for _ in range(cones.exp):  # (r, s, t) with s exp(r / s) < t, and (u, v, w) in K*
        s_parts.append([-1.0, 0.5, 2.0])
        z_parts.append([-1.0, 0.5, 2.0])
    return jnp.asarray(np.concatenate(s_parts)), jnp.asarray(np.concatenate(z_parts))


@pytest.mark.parametrize("bounds", [False, True])
@pytest.mark.parametrize("depth", [1.0, 1e-6])
def test_condensed_matrix_is_the_gram_matrix_of_the_scaled_rows(depth, bounds, monkeypatch):
    """Random cone rows of ``A`` and interior ``(s, z)``, well inside the cones and ``1e-6`` from their boundary,
    where the scalings span twelve orders of magnitude: the per-cone sum matches ``G'G`` to rounding of ``G'G``.
    With ``bounds`` the nonnegative rows have one non-zero each (two on one column, one row zero), whose part
    goes to the diagonal (the test for it made at this small ``n`` too)."""
    monkeypatch.setattr(newton_step, "SINGLE_ENTRY_MIN_COLUMNS", 1)
    cone = product_cone(LAYOUT)
    assert cone.structured(N) == (False, False, True, True, False, False)  # nonneg, soc 3, soc 5, soc 16, psd, exp
    rng = np.random.default_rng(7)

    @jax.jit
    def both(A, s, z):
        w = cone.scaling(s, z, jnp.asarray(1.0))
        G = jax.vmap(lambda col: cone.mul("mul_winvt", w, col), in_axes=1, out_axes=1)(A)
        return G, cone.condensed(w, A, G, cone.condensed_constants(A))

    for _ in range(3):
        A = rng.normal(size=(cone.dim, N)) * rng.lognormal(size=(1, N))
        if bounds:
            A[:LAYOUT.nonneg] = 0
            A[[0, 1], [4, 4]] = rng.normal(size=2)
        single = cone.condensed_constants(jnp.asarray(A))[0].single
        assert bool(single) == bounds
        G, structured = (np.asarray(v) for v in both(jnp.asarray(A), *_pair(LAYOUT, rng, depth)))
        gram = G.T @ G
        scale = np.abs(G).T @ np.abs(G)
        assert np.max(np.abs(structured - gram) / scale) < 1e-12
        assert np.linalg.cond(gram) > ((1e7 if bounds else 1e8) if depth < 1 else 1)  # extreme scalings reached


def test_second_order_update_in_closed_form():
    """``a' W^-1 W^-T a = v v' - c a' J a`` for one cone, with ``W^-1`` applied as the inverse of ``W``."""
    rng = np.random.default_rng(3)
    q, n = 6, 4
    cone = SecondOrder(q)
    s, z = _pair(Cones(soc=(q,)), rng, 0.1)
    w = cone.scaling(s, z, jnp.asarray(1.0))
    a = jnp.asarray(rng.normal(size=(q, n)))
    W = jax.vmap(lambda e: cone.mul_w(w, e), out_axes=1)(jnp.eye(q))
    Winv = np.linalg.inv(np.asarray(W))
    v, c = cone.condensed_update(w, a)
    expected = np.asarray(a).T @ Winv @ Winv.T @ np.asarray(a)
    np.testing.assert_allclose(np.outer(v, v) - c * cone.condensed_constant(a), expected, rtol=1e-10, atol=1e-10)

