"""Cobb-Douglas demand through power cones, gradient with respect to the prices.

    x*(p) = argmax_x  geo_mean(x, α)   s.t.   pᵀx ≤ B,  x ≥ 0,        loss = sum(c * x*)

The weights α are irrational-looking floats, so the weighted geometric mean is a chain of
power cones (no second-order-cone tower of a rational approximation). The demand has a
closed form, x*_i = w_i B / p_i with w = α / sum(α), and so has its derivative,
∂x*_i / ∂p_i = -w_i B / p_i²: the reference is exact. Sizes: n = 10 and 50 goods at
batch 1 and 16 (one price vector per instance, α and B shared). Contenders: optdsl (its
default route for the model, ``conic``) and cvxpylayers. cvxpylayers' differentiation (diffcp)
refuses power cones ("constraint dimensions inconsistent with size of cones" for
``cp.geo_mean(..., approx=False)``), so its row solves cvxpy's default form instead: a
second-order-cone tower for a rational approximation of α, whose error shows in its
``sol err``.
"""

from __future__ import annotations


import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np

import optdsl as od
from benchmarks.harness import Case, Contender, weighted_layer, weighted_optdsl

FULL = [(10, (1, 16)), (50, (1, 16))]
QUICK = [(4, (2,))]
CHECKED = 2
BUDGET = 1.0


def make_data(n: int, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Weights α ~ U(0.5, 1.5) and prices p ~ U(0.5, 2) per instance."""
    rng = np.random.default_rng(seed)
    return {"alpha": rng.uniform(0.5, 1.5, size=n), "p": rng.uniform(0.5, 2.0, size=(batch, n))}


def reference(alpha: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The demand x*(p) in closed form."""
    return alpha / alpha.sum() * BUDGET / p


def exact_slope(alpha: np.ndarray, p: np.ndarray, c: np.ndarray, dp: np.ndarray) -> float:
    """d sum(c * x*(p + t dp)) / dt at t = 0."""
    return float(np.sum(c * -(alpha / alpha.sum()) * BUDGET / p ** 2 * dp))


def _contenders(n: int, d: dict[str, jax.Array], c: jax.Array) -> list[Contender]:
    x, p = od.Variable(n, name="x"), od.Parameter(n, name="p", nonneg=True)
    alpha = np.asarray(d["alpha"])
    problem = od.Problem(od.Maximize(od.geo_mean(x, alpha)), [p @ x <= BUDGET, x >= 0])
    args = (d["p"], d, c)
    out = [weighted_optdsl(problem, "p", "x", args)]

    def layer():
        xc, p_c = cp.Variable(n), cp.Parameter(n, nonneg=True)
        return cp.Problem(cp.Maximize(cp.geo_mean(xc, alpha)), [p_c @ xc <= BUDGET, xc >= 0]), p_c, xc

    return out + weighted_layer(layer, args)


def case(n: int, batch: int) -> Case:
    """One (size, batch): seeded data, the closed-form solution and slope on the checked instances."""
    data = make_data(n, batch)
    rng = np.random.default_rng(1)
    c = rng.normal(size=(batch, n))
    checked = min(batch, CHECKED)
    dp = np.zeros((batch, n))
    dp[:checked] = rng.normal(size=(checked, n))
    x_ref = np.stack([reference(data["alpha"], data["p"][i]) for i in range(checked)])
    slope = sum(exact_slope(data["alpha"], data["p"][i], c[i], dp[i]) for i in range(checked))
    contenders = _contenders(n, {"alpha": data["alpha"], "p": jnp.asarray(data["p"])}, jnp.asarray(c))
    return Case("powcone", f"n={n} batch={batch}", contenders, x_ref, lambda x: np.asarray(x)[:checked], (dp,),
                slope)


def cases(quick: bool) -> list[Case]:
    return [case(n, batch) for n, batches in (QUICK if quick else FULL) for batch in batches]
