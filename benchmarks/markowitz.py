"""Markowitz portfolio as an SOCP, gradient with respect to the expected returns.

    w*(μ) = argmax_w μᵀw   s.t.   1ᵀw = 1,  w ≥ 0,  ‖Lᵀw‖₂ ≤ σ,        loss = sum(c * w*)

Sizes: n = 50 and 200 assets, batch 1 and 16 (one μ per instance, L and σ
shared). Contenders: optdsl (conic lowering) and cvxpylayers (L and σ constants, its
batch spread over threads); at batch 16, where the process has several devices (on a CPU:
``XLA_FLAGS=--xla_force_host_platform_device_count=N``), also optdsl with the batch split over
them (``optdsl.runtime.batch_map``).
"""

from __future__ import annotations


import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np

import optdsl as od
from benchmarks.harness import CLARABEL, Case, Contender, weighted_fd, weighted_layer, weighted_optdsl

FULL = [(50, (1, 16)), (200, (1, 16))]
QUICK = [(5, (2,))]
CHECKED = 2
SIGMA = 0.15


def make_data(n: int, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Covariance LLᵀ from a 5-factor model plus idiosyncratic risk; returns μ ~ N(0.05, 0.1²)."""
    rng = np.random.default_rng(seed)
    F = 0.2 * rng.normal(size=(n, 5))
    L = np.linalg.cholesky(F @ F.T + np.diag(0.01 + 0.04 * rng.random(n)))
    return {"mu": 0.05 + 0.1 * rng.normal(size=(batch, n)), "L": L, "sigma": np.asarray(SIGMA)}


def reference(mu: np.ndarray, L: np.ndarray) -> np.ndarray:
    w = cp.Variable(mu.shape[0])
    cp.Problem(cp.Maximize(mu @ w), [cp.sum(w) == 1, w >= 0, cp.norm(L.T @ w, 2) <= SIGMA]).solve(**CLARABEL)
    return w.value


def _contenders(n: int, d: dict[str, jax.Array], c: jax.Array) -> list[Contender]:
    w = od.Variable(n, name="w")
    mu, L, sigma = od.Parameter(n, name="mu"), od.Parameter((n, n), name="L"), od.Parameter(nonneg=True, name="sigma")
    problem = od.Problem(od.Maximize(mu @ w), [od.sum(w) == 1, w >= 0, od.norm2(L.T @ w) <= sigma])
    args = (d["mu"], d, c)
    fixed = lambda d: {"L": d["L"], "sigma": d["sigma"]}  # noqa: E731
    out = [weighted_optdsl(problem, "mu", "w", args, fixed)]
    batch, devices = d["mu"].shape[0], jax.device_count()
    if devices > 1 and batch > 1 and batch % devices == 0:
        out.append(weighted_optdsl(problem, "mu", "w", args, fixed, devices=True))

    def layer():
        wc, mu_p = cp.Variable(n), cp.Parameter(n)
        L0 = np.asarray(d["L"])
        problem_c = cp.Problem(cp.Maximize(mu_p @ wc), [cp.sum(wc) == 1, wc >= 0, cp.norm(L0.T @ wc, 2) <= SIGMA])
        return problem_c, mu_p, wc

    return out + weighted_layer(layer, args)


def case(n: int, batch: int) -> Case:
    """One (size, batch): seeded data, the reference on the checked instances, the contenders."""
    data = make_data(n, batch)
    rng = np.random.default_rng(1)
    c = rng.normal(size=(batch, n))
    k = min(batch, CHECKED)
    dmu = np.zeros((batch, n))
    dmu[:k] = 0.01 * rng.normal(size=(k, n))
    x_ref = np.stack([reference(data["mu"][i], data["L"]) for i in range(k)])
    fd = weighted_fd(lambda mu: reference(mu, data["L"]), data["mu"], dmu, c, k, 1e-3)
    jdata = {key: jnp.asarray(v) for key, v in data.items()}
    return Case("markowitz", f"n={n} batch={batch}", _contenders(n, jdata, jnp.asarray(c)), x_ref,
                lambda x: np.asarray(x)[:k], (dmu,), fd)


def cases(quick: bool) -> list[Case]:
    return [case(n, batch) for n, batches in (QUICK if quick else FULL) for batch in batches]
