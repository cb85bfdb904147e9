"""Batched random QPs, gradients with respect to q and h.

    minimize 0.5 x'Qx + q'x   s.t.   Gx <= h,   Ax == b       (per instance)

Sizes: n = 32 with 64 inequalities (qpax's own benchmark shape), batch 1, 16,
128, 512; n = 100 with 50 inequalities and 20 equalities, batch 1 and 64; a small
QP, n = 20 with 10 inequalities and 5 equalities, batch 1 and 64 (where per-call
overhead, not the factorisations, sets the time). Every
instance has its own data (feasible by construction, some constraints active).
The loss is ``sum(w * x)`` for a fixed random ``w``. Anchors: qpax (its
explicit backend), JAXopt OSQP and cvxpylayers (JAX interface, diffcp + Clarabel).
The row ``optdsl[solve_qp,polish=False]`` is the runtime's QP solver without the
refinement of its solutions on their active set: its ratio is the refinement's cost.
"""

from __future__ import annotations

import time
from typing import Any

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np

import optdsl as od
from optdsl.runtime.solvers.interior_point import solve_qp
from benchmarks.harness import CLARABEL, DIFFCP, Case, Contender, directional_fd, optional

#: (n, inequalities, equalities, batches) of the full and the quick run.
FULL = [(32, 64, 0, (1, 16, 128, 512)), (100, 50, 20, (1, 64)), (20, 10, 5, (1, 64))]
QUICK = [(8, 12, 2, (2,))]
#: Instances whose solution and gradient are checked against the reference.
CHECKED = 2
#: Tolerance of the interior points (qpax; optdsl uses its dtype-aware default, 1e-6 leaves
#: degenerate-looking KKT systems whose derivatives are poor) and of first-order OSQP (tighter is unaffordable).
IPM_TOL, OSQP_TOL = 1e-8, 1e-6
#: qpax as benchmarked by its authors, and tightened for accurate gradients: it differentiates a problem relaxed
#: to the central point at ``target_kappa`` (default 1e-3), so its gradient error falls with ``target_kappa``.
QPAX = {"qpax": {"solver_tol": IPM_TOL},
        "qpax[tight]": {"solver_tol": 1e-12, "target_kappa": 1e-10, "max_iter": 50}}


def instances(n: int, m: int, p: int, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``batch`` feasible QPs: Q = MM'/n + I, h = G x0 + U(0, 1), b = A x0."""
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(batch, n, n))
    G, A = rng.normal(size=(batch, m, n)), rng.normal(size=(batch, p, n))
    x0 = rng.normal(size=(batch, n))
    return {"Q": M @ M.transpose(0, 2, 1) / n + np.eye(n), "q": rng.normal(size=(batch, n)) * 3, "G": G,
            "h": np.einsum("bmn,bn->bm", G, x0) + rng.random((batch, m)), "A": A,
            "b": np.einsum("bpn,bn->bp", A, x0)}


def reference(d: dict[str, np.ndarray]) -> np.ndarray:
    """One instance solved by cvxpy + Clarabel."""
    x = cp.Variable(d["q"].shape[0])
    constraints = [d["G"] @ x <= d["h"]] + ([d["A"] @ x == d["b"]] if d["b"].size else [])
    cp.Problem(cp.Minimize(0.5 * cp.quad_form(x, cp.psd_wrap(d["Q"])) + d["q"] @ x), constraints).solve(**CLARABEL)
    return x.value


def optdsl_qp(n: int, m: int, p: int) -> od.Problem:
    """The QP declared in optdsl (the KKT lowering: interior point, implicit derivatives)."""
    x = od.Variable(n, name="x")
    Q, q = od.Parameter((n, n), name="Q"), od.Parameter(n, name="q")
    G, h = od.Parameter((m, n), name="G"), od.Parameter(m, name="h")
    constraints = [G @ x <= h]
    if p:
        A, b = od.Parameter((p, n), name="A"), od.Parameter(p, name="b")
        constraints.append(A @ x == b)
    return od.Problem(od.Minimize(0.5 * od.quad_form(x, Q) + q @ x), constraints)


def _loss_and_grad(solve_batch):
    """``(q, h, rest, w) -> (sum(w * x), (dq, dh))`` from a batched solve ``(q, h, rest) -> x``."""
    def loss(q, h, rest, w):
        return jnp.sum(w * solve_batch(q, h, rest))

    return jax.value_and_grad(loss, argnums=(0, 1))


def _contenders(n: int, m: int, p: int, d: dict[str, jax.Array], w: jax.Array) -> list[Contender]:
    q, h = d["q"], d["h"]
    rest = {k: d[k] for k in ("Q", "G", "A", "b")}
    args = (q, h, rest, w)
    out = []

    start = time.perf_counter()
    solve = optdsl_qp(n, m, p).compile()
    build = time.perf_counter() - start

    def optdsl_batch(q, h, rest):
        params = {"Q": rest["Q"], "q": q, "G": rest["G"], "h": h, **({"A": rest["A"], "b": rest["b"]} if p else {})}
        return jax.vmap(solve)(params).x

    out.append(Contender(f"optdsl[{solve.method}]", lambda q, h, rest, w: optdsl_batch(q, h, rest),
                         _loss_and_grad(optdsl_batch), args, build_s=build))

    def unpolished_batch(q, h, rest):
        one = lambda Q, q, A, b, G, h: solve_qp(Q, q, A, b, G, h, polish=False)[0].x
        return jax.vmap(one)(rest["Q"], q, rest["A"], rest["b"], rest["G"], h)

    out.append(Contender("optdsl[solve_qp,polish=False]", lambda q, h, rest, w: unpolished_batch(q, h, rest),
                         _loss_and_grad(unpolished_batch), args))

    qpax = optional("qpax")
    if qpax is not None:
        for name, settings in QPAX.items():
            out.append(_qpax_contender(qpax, name, settings, args))

    jaxopt = optional("jaxopt")
    if jaxopt is not None:
        osqp = jaxopt.OSQP(tol=OSQP_TOL, maxiter=4000)

        def osqp_batch(q, h, rest):
            def one(Q, q, A, b, G, h):
                eq = (A, b) if p else None
                return osqp.run(params_obj=(Q, q), params_eq=eq, params_ineq=(G, h)).params.primal

            return jax.vmap(one)(rest["Q"], q, rest["A"], rest["b"], rest["G"], h)

        out.append(Contender("jaxopt-OSQP", lambda q, h, rest, w: osqp_batch(q, h, rest), _loss_and_grad(osqp_batch),
                             args))

    layers = optional("cvxpylayers.jax")
    if layers is not None:
        start = time.perf_counter()
        x = cp.Variable(n)
        Lp, qp_, Gp, hp = cp.Parameter((n, n)), cp.Parameter(n), cp.Parameter((m, n)), cp.Parameter(m)
        params, constraints = [Lp, qp_, Gp, hp], [Gp @ x <= hp]
        if p:
            Ap, bp = cp.Parameter((p, n)), cp.Parameter(p)
            params += [Ap, bp]
            constraints.append(Ap @ x == bp)
        problem = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(Lp @ x) + qp_ @ x), constraints)
        layer = layers.CvxpyLayer(problem, parameters=params, variables=[x], solver_args=DIFFCP)
        build = time.perf_counter() - start
        L = jnp.linalg.cholesky(rest["Q"]).transpose(0, 2, 1)  # Q = L'L with L upper triangular

        def layer_batch(q, h, rest):
            extra = (rest["A"], rest["b"]) if p else ()
            return layer(L, q, rest["G"], h, *extra)[0]

        out.append(Contender("cvxpylayers", lambda q, h, rest, w: layer_batch(q, h, rest), _loss_and_grad(layer_batch),
                             args, jitted=False, build_s=build))
    return out


def _qpax_contender(qpax: Any, name: str, settings: dict, args: tuple) -> Contender:
    """qpax's ``solve_qp_primal`` with ``settings`` under ``vmap``, as the contender ``name``."""
    def qpax_batch(q, h, rest):
        one = lambda Q, q, A, b, G, h: qpax.solve_qp_primal(Q, q, A, b, G, h, **settings)
        return jax.vmap(one)(rest["Q"], q, rest["A"], rest["b"], rest["G"], h)

    return Contender(name, lambda q, h, rest, w: qpax_batch(q, h, rest), _loss_and_grad(qpax_batch), args)


def case(n: int, m: int, p: int, batch: int) -> Case:
    """One (shape, batch): seeded data, the reference on the checked instances, the contenders."""
    data = instances(n, m, p, batch)
    rng = np.random.default_rng(1)
    w = rng.normal(size=(batch, n))
    k = min(batch, CHECKED)
    dq, dh = np.zeros((batch, n)), np.zeros((batch, m))
    dq[:k], dh[:k] = rng.normal(size=(k, n)), rng.normal(size=(k, m))

    def moved(i: int, t: float) -> np.ndarray:
        """The reference solution of instance ``i`` at ``(q, h) + t (dq, dh)``."""
        return reference({**{key: v[i] for key, v in data.items()},
                          "q": data["q"][i] + t * dq[i], "h": data["h"][i] + t * dh[i]})

    x_ref = np.stack([moved(i, 0.0) for i in range(k)])
    fd = directional_fd(lambda t: sum(float(w[i] @ moved(i, t)) for i in range(k)), 1e-4)
    contenders = _contenders(n, m, p, {key: jnp.asarray(v) for key, v in data.items()}, jnp.asarray(w))
    return Case("qp", f"n={n} m={m} p={p} batch={batch}", contenders, x_ref, lambda x: np.asarray(x)[:k],
                (dq, dh), fd)


def cases(quick: bool) -> list[Case]:
    """One case per (shape, batch)."""
    return [case(n, m, p, batch) for n, m, p, batches in (QUICK if quick else FULL) for batch in batches]
