"""l2-regularised logistic regression through the exponential cone, gradient with respect to the features.

    w*(X) = argmin_w  Σ_i logistic(-y_i x_iᵀw) + λ‖w‖²,        loss = sum(c * w*)

Sizes: m × n = 20 × 10 and 40 × 20 (samples × features), batch 1 and 16 (one X per
instance, noisy copies of one data set; the labels y and λ shared), and 100 × 30 at batch 1:
the cone program has about 10m + 2n unknowns (about 1060 at 100 × 30), and the conic route's dense
factorisations grow with the cube of that. The router sends this
smooth, unconstrained model to ``stationary``, so the conic row forces ``method="conic"``
(each ``logistic`` becomes two exponential cones) and the default route is a second optdsl row.
cvxpylayers solves the same model (y and λ constants). The reference gradient is exact: the
implicit function theorem on ``∇_w = 0`` at Clarabel's solution refined by Newton steps.
"""

from __future__ import annotations


import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np

import optdsl as od
from benchmarks.harness import CLARABEL, Case, Contender, weighted_layer, weighted_optdsl

FULL = [(20, 10, (1, 16)), (40, 20, (1, 16)), (100, 30, (1,))]
QUICK = [(6, 3, (2,))]
CHECKED = 2
#: λ, the weight of ‖w‖².
LAM = 1.0
#: Newton steps that refine Clarabel's reference solution (quadratic convergence from about 1e-7).
NEWTON_STEPS = 3


def make_data(m: int, n: int, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Features X0 ~ N(0, 1/n) perturbed per instance by N(0, 0.1²/n); labels y = sign(X0 β + noise)."""
    rng = np.random.default_rng(seed)
    X0 = rng.normal(size=(m, n)) / np.sqrt(n)
    y = np.where(X0 @ rng.normal(size=n) + 0.3 * rng.normal(size=m) >= 0, 1.0, -1.0)
    return {"X": X0 + 0.1 / np.sqrt(n) * rng.normal(size=(batch, m, n)), "y": y}


def _newton_system(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """s = σ(-y ∘ Xw), the objective's gradient and its Hessian at ``w``."""
    s = 1.0 / (1.0 + np.exp(y * (X @ w)))
    hessian = X.T @ ((s * (1.0 - s))[:, None] * X) + 2.0 * LAM * np.eye(X.shape[1])
    return s, 2.0 * LAM * w - X.T @ (y * s), hessian


def reference(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Clarabel's solution (tolerance 1e-10; its exponential-cone answers are accurate to about 1e-7) refined by
    Newton steps on the stationarity condition to machine precision."""
    w = cp.Variable(X.shape[1])
    cp.Problem(cp.Minimize(cp.sum(cp.logistic(-cp.multiply(y, X @ w))) + LAM * cp.sum_squares(w))).solve(**CLARABEL)
    w = w.value
    for _ in range(NEWTON_STEPS):
        _, gradient, hessian = _newton_system(X, y, w)
        w = w - np.linalg.solve(hessian, gradient)
    return w


def exact_gradient(X: np.ndarray, y: np.ndarray, w: np.ndarray, c: np.ndarray) -> np.ndarray:
    """d(cᵀw*)/dX at the minimiser ``w``: with v = H⁻¹c, row i is y_i s_i v - s_i (1 - s_i)(x_iᵀv) w."""
    s, _, hessian = _newton_system(X, y, w)
    v = np.linalg.solve(hessian, c)
    return np.outer(y * s, v) - np.outer(s * (1.0 - s) * (X @ v), w)


def _contenders(m: int, n: int, d: dict[str, jax.Array], c: jax.Array) -> list[Contender]:
    w, X = od.Variable(n, name="w"), od.Parameter((m, n), name="X")
    problem = od.Problem(od.Minimize(od.sum(od.logistic(-od.multiply(np.asarray(d["y"]), X @ w)))
                                     + LAM * od.sum_squares(w)))
    args = (d["X"], d, c)
    out = [weighted_optdsl(problem, "X", "w", args, method="conic"), weighted_optdsl(problem, "X", "w", args)]

    def layer():
        wc, X_p = cp.Variable(n), cp.Parameter((m, n))
        loss = cp.sum(cp.logistic(-cp.multiply(np.asarray(d["y"]), X_p @ wc))) + LAM * cp.sum_squares(wc)
        return cp.Problem(cp.Minimize(loss)), X_p, wc

    return out + weighted_layer(layer, args)


def case(m: int, n: int, batch: int) -> Case:
    """One (size, batch): seeded data, the reference solution and exact gradient on the checked instances."""
    data = make_data(m, n, batch)
    rng = np.random.default_rng(1)
    c = rng.normal(size=(batch, n))
    k = min(batch, CHECKED)
    dX = np.zeros((batch, m, n))
    dX[:k] = rng.normal(size=(k, m, n))
    x_ref = np.stack([reference(data["X"][i], data["y"]) for i in range(k)])
    slope = sum(float(np.vdot(exact_gradient(data["X"][i], data["y"], x_ref[i], c[i]), dX[i])) for i in range(k))
    jdata = {key: jnp.asarray(v) for key, v in data.items()}
    return Case("expcone", f"m={m} n={n} batch={batch}", _contenders(m, n, jdata, jnp.asarray(c)), x_ref,
                lambda x: np.asarray(x)[:k], (dX,), slope)


def cases(quick: bool) -> list[Case]:
    return [case(m, n, batch) for m, n, batches in (QUICK if quick else FULL) for batch in batches]
