"""A batched LP, gradient with respect to the right-hand side and the cost.

    x*(c, h) = argmin_x cᵀx   s.t.   Gx ≤ h,        loss = sum(w * x*)

Size: n = 50 variables, 100 inequalities, batch 1 and 16 (G shared; c and h per
instance; bounded and feasible by construction). Contenders: optdsl (its
default lowering for an LP) and cvxpylayers (G constant).
"""

from __future__ import annotations

import time

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np

import optdsl as od
from benchmarks.harness import CLARABEL, DIFFCP, Case, Contender, directional_fd, optional

FULL = [(50, 100, (1, 16))]
QUICK = [(5, 10, (2,))]
CHECKED = 2


def make_data(n: int, m: int, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """h = G x0 + U(0, 1) (feasible) and c = -Gᵀy with y > 0 (dual feasible, so bounded)."""
    rng = np.random.default_rng(seed)
    G = rng.normal(size=(m, n))
    x0 = rng.normal(size=(batch, n))
    return {"G": G, "h": x0 @ G.T + rng.random((batch, m)), "c": -rng.random((batch, m)) @ G}


def reference(c: np.ndarray, G: np.ndarray, h: np.ndarray) -> np.ndarray:
    x = cp.Variable(c.shape[0])
    cp.Problem(cp.Minimize(c @ x), [G @ x <= h]).solve(**CLARABEL)
    return x.value


def _contenders(n: int, m: int, d: dict[str, jax.Array], w: jax.Array) -> list[Contender]:
    x = od.Variable(n, name="x")
    c, G, h = od.Parameter(n, name="c"), od.Parameter((m, n), name="G"), od.Parameter(m, name="h")
    start = time.perf_counter()
    solve = od.Problem(od.Minimize(c @ x), [G @ x <= h]).compile()
    build = time.perf_counter() - start

    def optdsl_batch(c, h, G):
        return jax.vmap(lambda c, h: solve(c=c, G=G, h=h).x)(c, h)

    def fwdbwd_of(batch_fn):
        def fwdbwd(c, h, G, w):
            return jax.value_and_grad(lambda c, h: jnp.sum(w * batch_fn(c, h, G)), argnums=(0, 1))(c, h)

        return fwdbwd

    args = (d["c"], d["h"], d["G"], w)
    out = [Contender(f"optdsl[{solve.method}]", lambda c, h, G, w: optdsl_batch(c, h, G), fwdbwd_of(optdsl_batch),
                     args, build_s=build)]

    layers = optional("cvxpylayers.jax")
    if layers is not None:
        start = time.perf_counter()
        xc, c_p, h_p = cp.Variable(n), cp.Parameter(n), cp.Parameter(m)
        problem_c = cp.Problem(cp.Minimize(c_p @ xc), [np.asarray(d["G"]) @ xc <= h_p])
        layer = layers.CvxpyLayer(problem_c, parameters=[c_p, h_p], variables=[xc], solver_args=DIFFCP)
        build = time.perf_counter() - start
        layer_batch = lambda c, h, G: layer(c, h)[0]
        out.append(Contender("cvxpylayers", lambda c, h, G, w: layer_batch(c, h, G), fwdbwd_of(layer_batch), args,
                             jitted=False, build_s=build))
    return out


def case(n: int, m: int, batch: int) -> Case:
    """One (size, batch): seeded data, the reference on the checked instances, the contenders."""
    data = make_data(n, m, batch)
    rng = np.random.default_rng(1)
    w = rng.normal(size=(batch, n))
    k = min(batch, CHECKED)
    dc, dh = np.zeros((batch, n)), np.zeros((batch, m))
    dc[:k], dh[:k] = rng.normal(size=(k, n)), rng.normal(size=(k, m))

    def moved(i: int, t: float) -> np.ndarray:
        """The reference solution of instance ``i`` at ``(c, h) + t (dc, dh)``."""
        return reference(data["c"][i] + t * dc[i], data["G"], data["h"][i] + t * dh[i])

    x_ref = np.stack([moved(i, 0.0) for i in range(k)])
    fd = directional_fd(lambda t: sum(float(w[i] @ moved(i, t)) for i in range(k)), 1e-4)
    jdata = {key: jnp.asarray(v) for key, v in data.items()}
    return Case("lp", f"n={n} m={m} batch={batch}", _contenders(n, m, jdata, jnp.asarray(w)), x_ref,
                lambda x: np.asarray(x)[:k], (dc, dh), fd)


def cases(quick: bool) -> list[Case]:
    return [case(n, m, batch) for n, m, batches in (QUICK if quick else FULL) for batch in batches]
