"""First-call compile time against model size.

Two models, n ∈ {10², 10³, 10⁴} variables: a lasso with A of shape (20, n)
(proximal gradient) and least squares over the probability simplex (projected
gradient). Reported: ``build`` = ``problem.compile`` (analysis and lowering),
``compile`` = build plus the trace and XLA compilation of forward+backward (the
first-call cost a user sees), and the steady forward time for scale.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import optdsl as od

FULL = (100, 1000, 10_000)
QUICK = (100,)
ROWS = 20


def _lasso(n: int) -> tuple[od.Problem, dict[str, np.ndarray], str]:
    x = od.Variable(n, name="x")
    A, b, lam = od.Parameter((ROWS, n), name="A"), od.Parameter(ROWS, name="b"), od.Parameter(nonneg=True, name="lam")
    rng = np.random.default_rng(0)
    problem = od.Problem(od.Minimize(0.5 * od.sum_squares(A @ x - b) + lam * od.norm1(x)))
    return problem, {"A": rng.normal(size=(ROWS, n)), "b": rng.normal(size=ROWS), "lam": np.asarray(1.0)}, "lam"


def _simplex_ls(n: int) -> tuple[od.Problem, dict[str, np.ndarray], str]:
    x = od.Variable(n, name="x")
    c = od.Parameter(n, name="c")
    problem = od.Problem(od.Minimize(od.sum_squares(x - c)), [x >= 0, od.sum(x) == 1])
    return problem, {"c": np.random.default_rng(0).normal(size=n) / np.sqrt(n)}, "c"


MODELS = {"lasso": _lasso, "simplex_ls": _simplex_ls}


def measure(name: str, n: int, runs: int = 5) -> dict[str, Any]:
    """Build, first-call compile and steady forward time of one model at one size."""
    problem, data, wrt = MODELS[name](n)
    params = {k: jnp.asarray(v) for k, v in data.items()}
    start = time.perf_counter()
    solve = problem.compile()
    build = time.perf_counter() - start

    def loss(theta):
        return jnp.sum(solve({**params, wrt: theta}).x ** 2)

    start = time.perf_counter()
    fwdbwd = jax.jit(jax.value_and_grad(loss)).lower(params[wrt]).compile()
    compile_s = build + time.perf_counter() - start
    forward = jax.jit(loss)
    jax.block_until_ready(forward(params[wrt]))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        jax.block_until_ready(forward(params[wrt]))
        times.append(time.perf_counter() - start)
    jax.block_until_ready(fwdbwd(params[wrt]))
    return {"workload": "compile", "size": f"{name} n={n}", "contender": f"optdsl[{solve.method}]",
            "build_s": build, "compile_s": compile_s, "fwd_s": statistics.median(times), "fwdbwd_s": None,
            "memory_mb": None, "sol_err": None, "grad_err": None}


def run(quick: bool, runs: int = 5) -> list[dict[str, Any]]:
    return [measure(name, n, runs) for name in MODELS for n in (QUICK if quick else FULL)]
