"""Multiclass-SVM hyperparameter gradient (Blondel et al. 2021, §3.1).

The dual over β (m × k, one probability simplex per row), with θ = exp(λ):

    β*(λ) = argmin_{β ≥ 0, β1 = 1}  ‖Xᵀ(Y − β)‖² / (2θ) + ⟨β, Y⟩,    W = Xᵀ(Y − β*) / θ,
    loss(λ) = mean cross-entropy of the validation scores X_val W.

Sizes: p ∈ {100, 1000, 5000} features, m = 300 training and 100 validation
samples, k = 5 classes. Contenders: optdsl (projected gradient, implicit and
unrolled) and a hand-written JAXopt ProjectedGradient (implicit), all running
``ITERATIONS`` iterations (tolerance zero, or the least positive float optdsl
accepts; the case checks that none stopped early): the times compare equal work.
"""

from __future__ import annotations

import time

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np

import optdsl as od
from benchmarks.harness import CLARABEL, Case, Contender, directional_fd, optional
from benchmarks.iterations import equal_iterations

#: (training samples, validation samples, classes, features) of the full and the quick run.
FULL = [(300, 100, 5, p) for p in (100, 1000, 5000)]
QUICK = [(20, 10, 3, 10)]
#: Iterations every contender runs; optdsl's tolerance, the least positive float64, stops it only at a zero residual.
ITERATIONS, TOL = 200, float(np.finfo(np.float64).tiny)
LAM = 0.0


def make_data(m: int, m_val: int, k: int, p: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Gaussian features (rows of norm ≈ 1), labels from a noisy linear teacher on 10 % of them."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m + m_val, p)) / np.sqrt(p)
    informative = max(2, p // 10)
    scores = X[:, :informative] @ rng.normal(size=(informative, k)) * np.sqrt(p / informative)
    y = np.argmax(scores + 0.5 * rng.normal(size=scores.shape), axis=1)
    Y = np.eye(k)[y]
    return {"X": X[:m], "Y": Y[:m], "X_val": X[m:], "Y_val": Y[m:]}


def reference(d: dict[str, np.ndarray], lam: float) -> np.ndarray:
    """β* by cvxpy + Clarabel, with ‖Xᵀ V‖² written as ‖S Uᵀ V‖² (thin SVD X = U S Vᵀ) to keep it small."""
    U, S, _ = np.linalg.svd(d["X"], full_matrices=False)
    R = S[:, None] * U.T
    beta = cp.Variable(d["Y"].shape)
    objective = cp.sum_squares(R @ (d["Y"] - beta)) / (2 * np.exp(lam)) + cp.sum(cp.multiply(beta, d["Y"]))
    cp.Problem(cp.Minimize(objective), [beta >= 0, cp.sum(beta, axis=1) == 1]).solve(**CLARABEL)
    return beta.value


def _val_loss(d, beta, lam):
    W = d["X"].T @ (d["Y"] - beta) / jnp.exp(lam)
    scores = d["X_val"] @ W
    return jnp.mean(jax.nn.logsumexp(scores, axis=1) - jnp.sum(scores * d["Y_val"], axis=1))


def _contender(name: str, solve_beta, d, build: float = 0.0) -> Contender:
    def fwdbwd(lam, d):
        loss, g = jax.value_and_grad(lambda lam: _val_loss(d, solve_beta(lam, d), lam))(lam)
        return loss, (g,)

    return Contender(name, solve_beta, fwdbwd, (jnp.asarray(LAM, d["X"].dtype), d), build_s=build)


def _contenders(m: int, k: int, p: int, d: dict[str, jax.Array]) -> tuple[list[Contender], dict]:
    """The contenders, and for each ``(lam, data) -> iterations taken``."""
    beta = od.Variable((m, k), name="beta")
    X, Y = od.Parameter((m, p), name="X"), od.Parameter((m, k), name="Y")
    theta = od.Parameter(nonneg=True, name="theta")
    objective = 0.5 * od.sum_squares(X.T @ (Y - beta)) / theta + od.sum(od.multiply(beta, Y))
    problem = od.Problem(od.Minimize(objective), [beta >= 0, od.sum(beta, axis=1) == 1])
    out, counts = [], {}
    for diff in ("implicit", "unrolled"):
        start = time.perf_counter()
        solve = problem.compile(diff=diff, tol=TOL, maxiter=ITERATIONS)
        build = time.perf_counter() - start

        def run(lam, d, solve=solve):
            return solve(X=d["X"], Y=d["Y"], theta=jnp.exp(lam))

        out.append(_contender(f"optdsl[{solve.method},{diff}]", lambda lam, d, run=run: run(lam, d).beta, d, build))
        counts[out[-1].name] = lambda lam, d, run=run: run(lam, d).iterations

    jaxopt = optional("jaxopt")
    if jaxopt is not None:
        def dual_objective(beta, theta, X, Y):
            return 0.5 * jnp.sum((X.T @ (Y - beta)) ** 2) / theta + jnp.sum(beta * Y)

        def rows_on_simplex(beta, _):
            return jax.vmap(jaxopt.projection.projection_simplex)(beta)

        pg = jaxopt.ProjectedGradient(fun=dual_objective, projection=rows_on_simplex, tol=0.0, maxiter=ITERATIONS)

        def run_jaxopt(lam, d):
            return pg.run(jnp.full((m, k), 1.0 / k, d["X"].dtype), None, jnp.exp(lam), d["X"], d["Y"])

        out.append(_contender("jaxopt-ProjectedGradient[implicit]", lambda lam, d: run_jaxopt(lam, d).params, d))
        counts[out[-1].name] = lambda lam, d: run_jaxopt(lam, d).state.iter_num
    return out, counts


def case(m: int, m_val: int, k: int, p: int) -> Case:
    """One size: seeded data, the reference, the contenders."""
    data = make_data(m, m_val, k, p)

    def loss(t: float) -> float:
        beta = reference(data, LAM + t)
        W = data["X"].T @ (data["Y"] - beta) / np.exp(LAM + t)
        s = data["X_val"] @ W
        top = s.max(axis=1)
        lse = top + np.log(np.exp(s - top[:, None]).sum(axis=1))
        return float(np.mean(lse - np.sum(s * data["Y_val"], axis=1)))

    fd = directional_fd(loss, 1e-4)
    jdata = {key: jnp.asarray(v) for key, v in data.items()}
    contenders, counts = _contenders(m, k, p, jdata)
    size = equal_iterations(f"m={m} k={k} p={p}", ITERATIONS, counts, (jnp.asarray(LAM, jdata["X"].dtype), jdata))
    return Case("svm", size, contenders, reference(data, LAM), np.asarray, (np.ones(()),), fd)


def cases(quick: bool) -> list[Case]:
    return [case(*sizes) for sizes in (QUICK if quick else FULL)]
