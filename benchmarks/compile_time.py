"""First-call cost per route and size: what a user waits for before the first answer, cold and with the cache warm.

One model per route, n ∈ {10, 10², 10³} variables (a parameter of each is the
differentiation variable):

- ``stationary``: ridge regression ``|A x - b|² + λ|x|²``, A 20×n;
- ``projected``: least squares on the probability simplex;
- ``proximal``: a lasso ``|A x - b|² + λ|x|₁``, A 20×n;
- ``kkt-qp``: ``½|x|² + cᵀx`` s.t. ``G x ≤ h``, 2n rows;
- ``kkt-lp``: ``cᵀx`` s.t. ``G x ≤ h`` and ``-1 ≤ x ≤ 1``;
- ``conic``: ``|A x - b|₂ + cᵀx`` s.t. ``-1 ≤ x ≤ 1`` (a second-order cone).

Each (model, size) runs in a fresh Python process twice, with one new empty
compilation-cache directory (``OPTDSL_COMPILATION_CACHE``): the first process
is the cold start, the second finds the first one's programs on disk. Each
process reports, in seconds of wall time: ``build`` (``problem.compile``), ``first fwd``
(the first solve, called as in a notebook: trace and XLA compilation included),
``first grad`` (the first ``jax.grad`` after it, also called directly) and
``first jit grad`` (then the first ``jax.jit(jax.grad(...))``, one program holding the solve and
its derivative, compiled anew). ``first total`` and ``warm total`` are build + first fwd + first grad.
Also measured: ``optdsl --help``. optdsl's modules are byte-compiled first and the processes read Python's
bytecode cache whatever ``PYTHONDONTWRITEBYTECODE`` says, as for an installed package (pip byte-compiles at
install): otherwise every process would compile optdsl's sources anew, which no user waits for twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

FULL = (10, 100, 1000)
QUICK = (10,)
ROWS = 20
WORKLOAD = "compile"
#: The repository, where the processes run and whose sources are byte-compiled first.
ROOT = Path(__file__).resolve().parents[1]


def _models() -> dict[str, Callable[[int], tuple[Any, dict[str, np.ndarray], str]]]:
    """The model of each route: ``n -> (problem, parameter values, name of the differentiated parameter)``."""
    import optdsl as od

    def regression(n, penalty):
        x = od.Variable(n, name="x")
        A, b = od.Parameter((ROWS, n), name="A"), od.Parameter(ROWS, name="b")
        lam = od.Parameter(nonneg=True, name="lam")
        problem = od.Problem(od.Minimize(od.sum_squares(A @ x - b) + lam * penalty(x)))
        rng = np.random.default_rng(0)
        return problem, {"A": rng.normal(size=(ROWS, n)), "b": rng.normal(size=ROWS), "lam": np.asarray(1.0)}, "b"

    def simplex(n):
        x, c = od.Variable(n, name="x"), od.Parameter(n, name="c")
        problem = od.Problem(od.Minimize(od.sum_squares(x - c)), [x >= 0, od.sum(x) == 1])
        return problem, {"c": np.random.default_rng(0).normal(size=n) / np.sqrt(n)}, "c"

    def polyhedron(n, quadratic):
        x, c = od.Variable(n, name="x"), od.Parameter(n, name="c")
        G, h = od.Parameter((2 * n, n), name="G"), od.Parameter(2 * n, name="h")
        if quadratic:
            problem = od.Problem(od.Minimize(0.5 * od.sum_squares(x) + c @ x), [G @ x <= h])
        else:
            problem = od.Problem(od.Minimize(c @ x), [G @ x <= h, x >= -1, x <= 1])
        rng = np.random.default_rng(0)
        return problem, {"c": rng.normal(size=n), "G": rng.normal(size=(2 * n, n)), "h": 1 + rng.random(2 * n)}, "c"

    def socp(n):
        x, c = od.Variable(n, name="x"), od.Parameter(n, name="c")
        A, b = od.Parameter((ROWS, n), name="A"), od.Parameter(ROWS, name="b")
        problem = od.Problem(od.Minimize(od.norm2(A @ x - b) + c @ x), [x >= -1, x <= 1])
        rng = np.random.default_rng(0)
        data = {"A": rng.normal(size=(ROWS, n)), "b": rng.normal(size=ROWS), "c": 0.1 * rng.normal(size=n)}
        return problem, data, "c"

    return {"stationary": lambda n: regression(n, od.sum_squares), "projected": simplex,
            "proximal": lambda n: regression(n, od.norm1),
            "kkt-qp": lambda n: polyhedron(n, True), "kkt-lp": lambda n: polyhedron(n, False), "conic": socp}


ROUTES = ("stationary", "projected", "proximal", "kkt-qp", "kkt-lp", "conic")


def first_calls(route: str, n: int) -> dict[str, Any]:
    """In this process: build, first solve, first gradient and first jitted gradient of the route's model (wall
    seconds)."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    problem, data, wrt = _models()[route](n)
    params = {k: jnp.asarray(v) for k, v in data.items()}
    start = time.perf_counter()
    solve = problem.compile()
    build = time.perf_counter() - start

    def loss(theta):
        return jnp.sum(solve({**params, wrt: theta}).x ** 2)

    seconds = []
    for call in (loss, jax.grad(loss), jax.jit(jax.grad(loss))):
        start = time.perf_counter()
        jax.block_until_ready(call(params[wrt]))
        seconds.append(time.perf_counter() - start)
    return {"method": solve.method, "build_s": build, "first_fwd_s": seconds[0], "first_grad_s": seconds[1],
            "first_jit_grad_s": seconds[2]}


def _bytecode_cached_env() -> dict[str, str]:
    """This process's environment with Python's bytecode cache on."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _child(route: str, n: int, cache: Path) -> dict[str, Any]:
    """:func:`first_calls` in a fresh process with ``cache`` as its compilation cache."""
    env = {**_bytecode_cached_env(), "OPTDSL_COMPILATION_CACHE": str(cache)}
    out = subprocess.run([sys.executable, "-m", "benchmarks.compile_time", route, str(n)], env=env, check=True,
                         capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _help_seconds() -> float:
    """Wall seconds of ``optdsl --help`` in a fresh process."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "optdsl.cli", "--help"], check=True, capture_output=True,
                   env=_bytecode_cached_env())
    return time.perf_counter() - start


def measure(route: str, n: int) -> dict[str, Any]:
    """One row: the cold process's and the warm process's first-call times of ``route`` at size ``n``."""
    with tempfile.TemporaryDirectory(prefix="optdsl-compile-bench-") as cache:
        cold = _child(route, n, Path(cache))
        warm = _child(route, n, Path(cache))
    return {"workload": WORKLOAD, "route": route, "size": f"n={n}", "contender": f"optdsl[{cold['method']}]",
            "build_s": cold["build_s"], "first_fwd_s": cold["first_fwd_s"], "first_grad_s": cold["first_grad_s"],
            "first_jit_grad_s": cold["first_jit_grad_s"],
            "first_total_s": cold["build_s"] + cold["first_fwd_s"] + cold["first_grad_s"],
            "warm_total_s": warm["build_s"] + warm["first_fwd_s"] + warm["first_grad_s"]}


def run(quick: bool) -> list[dict[str, Any]]:
    """Every route at every size, then the ``optdsl --help`` row."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "optdsl"), str(ROOT / "benchmarks")],
                   check=True, env=_bytecode_cached_env())
    rows = [measure(route, n) for route in ROUTES for n in (QUICK if quick else FULL)]
    return rows + [{"workload": WORKLOAD, "route": "cli", "size": "optdsl --help", "contender": "optdsl",
                    "first_total_s": _help_seconds()}]


if __name__ == "__main__":
    # The per-process worker of :func:`measure`, which the compile workload starts.
    if len(sys.argv) != 3 or sys.argv[1] not in ROUTES or not sys.argv[2].isdigit():
        sys.exit(f"usage: python -m benchmarks.compile_time ROUTE N, ROUTE one of {', '.join(ROUTES)} "
                 "(the compile workload runs as python -m benchmarks.run --only compile)")
    print(json.dumps(first_calls(sys.argv[1], int(sys.argv[2]))))
