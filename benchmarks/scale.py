"""Large sparse LPs by restarted PDHG (``optdsl.runtime.solvers.pdlp``) against Clarabel: time, memory, accuracy.

    min c'x  s.t.  A x = b,  G x <= h,  lower <= x <= upper

Sizes n = 10^2, 10^3, 10^4 variables with n / 20 equalities and n / 2 inequalities, about 5 non-zeros
a column (BCOO), some columns free, some boxed; each LP is built around a chosen vertex and
multipliers (:func:`instance`), so it is feasible and bounded and its optimal value is known. Columns:
``compile_s`` (trace and XLA compilation), ``solve_s`` (median of ``runs`` calls), ``memory_mb`` (XLA's
temporary buffers of the compiled solve), ``grad_s`` and ``grad_memory_mb`` (the same for the solve with
the gradient of a weighted sum of ``x`` in ``c``, ``b`` and ``h``, implicit through the active set),
``iterations``, ``status``, ``residual`` (pdlp's largest relative KKT residual on the data as given),
``obj_err`` (``|f - f*| / max(1, |f*|)`` against the construction's optimum), ``clarabel_s``
(Clarabel's own solve time through cvxpy, at the harness's tolerances) and ``clarabel_err`` (its
``obj_err``).

``--crossover`` measures instead where PDLP overtakes the dense interior point on the KKT route: a compiled LP
and QP (:func:`crossover_model`)
solved and differentiated by the dense interior point and by PDLP, each at its default tolerance, in
process CPU time -- run it on one thread, ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false taskset -c 1``.
Columns: ``kkt_size`` (``n + p + m``), ``<solver>_s`` (solve), ``<solver>_grad_s``
(solve and gradient), ``<solver>_status``, ``x_err`` (``max |x_pdlp - x_ip|``) and ``grad_err`` (the
gradients' largest difference over the largest entry; the LPs are not built unique, so where PDLP ends
at another optimal vertex or its iteration limit these two compare different points).

Run: ``python -m benchmarks.scale [--quick] [--crossover] [--runs N] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from jax.experimental import sparse

import optdsl as od
from benchmarks.harness import CLARABEL
from optdsl.runtime.solvers import pdlp
from optdsl.runtime.status import describe

FULL = [100, 1_000, 10_000]
QUICK = [100]
CROSSOVER = [40, 80, 160, 320, 640]


def sparse_matrix(rng: np.random.Generator, rows: int, n: int, per_column: int = 5) -> sp.csr_matrix:
    """``rows x n`` Gaussian sparse matrix, ``per_column`` non-zeros a column and at least one a row."""
    k = min(per_column, rows)
    r = np.concatenate([rng.choice(rows, size=k, replace=False) for _ in range(n)] + [np.arange(rows)])
    c = np.concatenate([np.repeat(np.arange(n), k), rng.integers(0, n, rows)])
    M = sp.coo_matrix((rng.standard_normal(r.size), (r, c)), shape=(rows, n)).tocsr()
    M.sum_duplicates()
    return M


def structure(rng: np.random.Generator, n: int, p: int, m: int, qp: bool) -> dict[str, Any]:
    """Data shared by a family: ``A``, ``G``, bounds (20% free, the rest ``>= 0`` and 30% of those boxed), ``P``."""
    A, G = sparse_matrix(rng, p, n), sparse_matrix(rng, m, n)
    lower, upper = np.zeros(n), np.full(n, np.inf)
    free = rng.random(n) < 0.2
    lower[free] = -np.inf
    boxed = ~free & (rng.random(n) < 0.3)
    upper[boxed] = 1 + rng.random(boxed.sum())
    P = None
    if qp:
        B = sparse_matrix(rng, n // 2, n, 2)
        P = (B.T @ B + 0.1 * sp.eye(n)).tocsr()
    return dict(P=P, A=A, G=G, lower=lower, upper=upper)


def instance(rng: np.random.Generator, s: dict[str, Any], unique: bool = True) -> dict[str, np.ndarray]:
    """``(c, b, h)`` and a solution ``(x, nu, lam, z)`` of one instance of family ``s``.

    An LP's solution is a vertex (``n`` active constraints), a QP's a point with a third of the
    inequalities and half the bounds active; multipliers are strictly positive on the active ones.
    ``unique``: draw the active set again until its rows are independent (a dense rank test, for small
    ``n``), which makes the solution and the multipliers unique.
    """
    A, G, lower, upper, P = s["A"], s["G"], s["lower"], s["upper"], s["P"]
    (p, n), m = A.shape, G.shape[0]
    bounded = np.flatnonzero(np.isfinite(lower))
    while True:
        if P is None:
            k_ineq = min(m // 2, n - p - len(bounded) // 2)
            k_bound = n - p - k_ineq
        else:
            k_ineq, k_bound = m // 3, len(bounded) // 2
        at_bound = rng.choice(bounded, size=k_bound, replace=False)
        active = rng.choice(m, size=k_ineq, replace=False)
        if not unique:
            break
        rows = np.vstack([A.toarray(), G[active].toarray(), np.eye(n)[at_bound]])
        if np.linalg.matrix_rank(rows) == rows.shape[0]:
            break
    x = 0.25 + 0.5 * rng.random(n)
    x[~np.isfinite(lower)] = rng.standard_normal((~np.isfinite(lower)).sum())
    z = np.zeros(n)
    for j in at_bound:
        if np.isfinite(upper[j]) and rng.random() < 0.5:
            x[j], z[j] = upper[j], -(0.5 + rng.random())
        else:
            x[j], z[j] = lower[j], 0.5 + rng.random()
    lam = np.zeros(m)
    lam[active] = 0.5 + rng.random(k_ineq)
    slack = np.where(lam > 0, 0, 0.5 + rng.random(m))
    nu = rng.standard_normal(p)
    c = z - A.T @ nu - G.T @ lam - (0 if P is None else P @ x)
    return dict(c=c, b=A @ x, h=G @ x + slack, x=x, nu=nu, lam=lam, z=z)


def reference(s: dict[str, Any], inst: dict[str, np.ndarray]) -> tuple[cp.Problem, cp.Variable, list]:
    """The instance solved by Clarabel through cvxpy: the problem, ``x`` and the constraints
    ``[A x == b, G x <= h, x >= lower (finite), x <= upper (finite)]`` holding their duals."""
    x = cp.Variable(s["A"].shape[1])
    lo, hi = np.flatnonzero(np.isfinite(s["lower"])), np.flatnonzero(np.isfinite(s["upper"]))
    objective = inst["c"] @ x + (0 if s["P"] is None else 0.5 * cp.quad_form(x, cp.psd_wrap(s["P"])))
    cons = [s["A"] @ x == inst["b"], s["G"] @ x <= inst["h"], x[lo] >= s["lower"][lo], x[hi] <= s["upper"][hi]]
    prob = cp.Problem(cp.Minimize(objective), cons)
    prob.solve(**CLARABEL)
    return prob, x, cons


def _timed(fn, *args) -> tuple[Any, float]:
    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - start


def measure(n: int, runs: int, seed: int = 0) -> dict[str, Any]:
    """One row of the table for an LP with ``n`` variables (see the module docstring)."""
    rng = np.random.default_rng(seed)
    s = structure(rng, n, n // 20, n // 2, qp=False)
    inst = instance(rng, s, unique=False)
    args = (inst["c"], sparse.BCOO.from_scipy_sparse(s["A"]), inst["b"], sparse.BCOO.from_scipy_sparse(s["G"]),
            inst["h"], s["lower"], s["upper"])

    def solve(c, A, b, G, h, lower, upper):
        return pdlp(c, A=A, b=b, G=G, h=h, lower=lower, upper=upper, maxiter=200_000)

    start = time.perf_counter()
    compiled = jax.jit(solve).lower(*args).compile()
    compile_s = time.perf_counter() - start
    analysis = compiled.memory_analysis()
    (point, aux), _ = _timed(compiled, *args)
    solve_s = statistics.median(_timed(compiled, *args)[1] for _ in range(runs))
    weights = rng.standard_normal(n)
    loss = lambda c, *rest: weights @ solve(c, *rest)[0].x
    grad = jax.jit(jax.grad(loss, argnums=(0, 2, 4))).lower(*args).compile()
    grad_analysis = grad.memory_analysis()
    _timed(grad, *args)
    grad_s = statistics.median(_timed(grad, *args)[1] for _ in range(runs))
    optimum = inst["c"] @ inst["x"]
    scale = max(1.0, abs(optimum))
    prob = reference(s, inst)[0]
    clarabel_value, clarabel_s = prob.value, prob.solver_stats.solve_time
    return {"n": n, "nnz": int(s["A"].nnz + s["G"].nnz), "compile_s": compile_s, "solve_s": solve_s,
            "memory_mb": None if analysis is None else analysis.temp_size_in_bytes / 2**20,
            "grad_s": grad_s,
            "grad_memory_mb": None if grad_analysis is None else grad_analysis.temp_size_in_bytes / 2**20,
            "iterations": int(aux.iterations), "status": describe(aux.status), "residual": float(aux.residual),
            "obj_err": abs(float(inst["c"] @ np.asarray(point.x)) - optimum) / scale,
            "clarabel_s": clarabel_s, "clarabel_err": abs(clarabel_value - optimum) / scale}


def crossover_model(n: int, p: int, m: int, qp: bool) -> od.Problem:
    """``min c'x (+ 0.5 x'Px) s.t. A x = b, G x <= h`` over ``x`` declared nonneg, every datum a parameter."""
    x = od.Variable(n, name="x", nonneg=True)
    c, A, b = od.Parameter(n, name="c"), od.Parameter((p, n), name="A"), od.Parameter(p, name="b")
    G, h = od.Parameter((m, n), name="G"), od.Parameter(m, name="h")
    objective = c @ x
    if qp:
        objective = objective + 0.5 * od.quad_form(x, od.Parameter((n, n), name="P", psd=True))
    return od.Problem(od.Minimize(objective), [A @ x == b, G @ x <= h])


def _cpu_s(fn, args: tuple, runs: int) -> tuple[Any, float]:
    """The output of ``fn(*args)`` and the median process CPU time of ``runs`` calls after a first one."""
    out = jax.block_until_ready(fn(*args))
    times = []
    for _ in range(runs):
        start = time.process_time()
        jax.block_until_ready(fn(*args))
        times.append(time.process_time() - start)
    return out, statistics.median(times)


def measure_crossover(n: int, qp: bool, runs: int, seed: int = 0) -> dict[str, Any]:
    """One row of the crossover table (module docstring): an instance with ``n`` variables, ``x >= 0``."""
    rng = np.random.default_rng(seed)
    p, m = max(1, n // 20), n // 2
    s = structure(rng, n, p, m, qp)
    s["lower"], s["upper"] = np.zeros(n), np.full(n, np.inf)
    inst = instance(rng, s, unique=False)
    params = {"c": inst["c"], "A": s["A"].toarray(), "b": inst["b"], "G": s["G"].toarray(), "h": inst["h"]}
    if qp:
        params["P"] = s["P"].toarray()
    params = {k: jnp.asarray(v) for k, v in params.items()}
    weights = jnp.asarray(rng.standard_normal(n))
    row: dict[str, Any] = {"n": n, "qp": qp, "kkt_size": n + p + m + n}
    results = {}
    for solver in ("interior_point", "pdlp"):
        compiled = crossover_model(n, p, m, qp).compile(solver=solver)
        solve = jax.jit(lambda params: compiled(**params))
        loss = jax.jit(jax.grad(lambda params: weights @ compiled(**params).x))
        sol, row[f"{solver}_s"] = _cpu_s(solve, (params,), runs)
        grad, row[f"{solver}_grad_s"] = _cpu_s(loss, (params,), runs)
        row[f"{solver}_status"] = describe(sol.status)
        results[solver] = (np.asarray(sol.x), grad)
    (x_ip, g_ip), (x_pd, g_pd) = results["interior_point"], results["pdlp"]
    row["x_err"] = float(np.max(np.abs(x_pd - x_ip)))
    row["grad_err"] = max(float(np.max(np.abs(g_pd[k] - g_ip[k])) / max(1.0, np.max(np.abs(g_ip[k]))))
                          for k in g_ip)
    return row


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table."""
    keys = list(rows[0])
    cell = lambda v: f"{v:.3g}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    return "\n".join(lines + ["| " + " | ".join(cell(r[k]) for k in keys) + " |" for r in rows])


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only n = 100")
    parser.add_argument("--crossover", action="store_true", help="interior point against PDLP on compiled models")
    parser.add_argument("--runs", type=int, default=3, help="timed calls after the first (median reported)")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    jax.config.update("jax_enable_x64", True)
    if args.crossover:
        rows = []
        for qp in (False, True):
            for n in CROSSOVER:
                rows.append(measure_crossover(n, qp, args.runs))
                print(rows[-1], flush=True)
    else:
        rows = [measure(n, args.runs) for n in (QUICK if args.quick else FULL)]
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
