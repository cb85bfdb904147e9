"""Where a lock-step batch beats a loop over the instances: the interior points on a CPU, by size and batch.

    XLA_FLAGS=--xla_cpu_multi_thread_eigen=false taskset -c 1 python -m benchmarks.lockstep [--family qp|socp]
        [--quick] [--json out.json]

Two families, at several sizes and batch sizes:

- ``qp``: random QPs (``benchmarks.qp.instances``: n unknowns, m = n / 2 inequalities, p = n / 4
  equalities), the forward+backward of ``sum(w * x)`` through ``solve_qp``;
- ``socp``: the Markowitz SOCP of ``benchmarks.markowitz`` with n assets (one expected-return vector per
  instance), the forward+backward of ``sum(w * x)`` through the conic interior point and its implicit
  derivatives (``solve_conic_diff``); its unknowns are the embedding's, ``n + m``.

Each is timed under ``vmap`` in both execution modes of
:func:`~optdsl.runtime.solvers.base.per_instance`: a loop over the instances (``lax.map``) and one lock-step
batch (``vmap``). Times are medians of process CPU time (one thread, so that other load on the machine does
not count). The table shows both, their ratio, the iterations (mean and max over the batch: the lock-step
batch runs as many steps as its slowest instance) and whether both modes gave the same statuses and iteration
counts. The thresholds :data:`~optdsl.runtime.solvers.base.LOCKSTEP_MAX_SIZE` (QP) and
:data:`~optdsl.runtime.solvers.conic_ip.iteration.LOCKSTEP_MAX_SIZE` (cone programs) are read off it. Rows go
to stderr as they are measured, and to ``--json`` (updated after each).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.markowitz import make_data
from benchmarks.qp import instances
import optdsl as od
from optdsl.compiler.conic import canonicalize
from optdsl.runtime.solvers import base
from optdsl.runtime.solvers.conic_diff import solve_conic_diff
from optdsl.runtime.solvers.conic_ip import iteration
from optdsl.runtime.solvers.interior_point import solve_qp

jax.config.update("jax_enable_x64", True)

#: Per family, (sizes n, batches) of the full and the quick run.
FULL = {"qp": ((5, 10, 20, 30, 40, 60), (4, 16, 64, 256)), "socp": ((5, 10, 20, 30, 40, 50), (4, 16, 64))}
QUICK = {"qp": ((8,), (4,)), "socp": ((4,), (4,))}
#: The two execution modes, as the size threshold that forces each.
MODES = {"loop": -1, "lockstep": 10**9}


def _cpu_ms(fn: Any, args: tuple, runs: int) -> float:
    """Median process CPU time of ``fn(*args)`` in milliseconds, after a warm-up call."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(runs):
        start = time.process_time()
        jax.block_until_ready(fn(*args))
        times.append(time.process_time() - start)
    return 1e3 * statistics.median(times)


def _qp(n: int, batch: int) -> tuple[Any, dict[str, jax.Array], tuple[str, ...], dict[str, Any]]:
    """The QP family: ``(one instance -> (x, aux), batched data, the data differentiated, the row's size
    columns)``."""
    m, p = n // 2, n // 4
    data = {key: jnp.asarray(v) for key, v in instances(n, m, p, batch).items()}

    def one(d: dict[str, jax.Array]) -> Any:
        point, aux = solve_qp(d["Q"], d["q"], d["A"], d["b"], d["G"], d["h"])
        return point.x, aux

    return one, data, ("q", "h"), {"n": n, "m": m, "p": p, "unknowns": n + m + p}


def _socp(n: int, batch: int) -> tuple[Any, dict[str, jax.Array], tuple[str, ...], dict[str, Any]]:
    """The Markowitz SOCP family on its conic form, ``c`` (the expected returns) per instance."""
    raw = make_data(n, batch)
    w = od.Variable(n, name="w")
    mu, L = od.Parameter(n, name="mu"), od.Parameter((n, n), name="L")
    sigma = od.Parameter(nonneg=True, name="sigma")
    form = canonicalize(od.Problem(od.Maximize(mu @ w), [od.sum(w) == 1, w >= 0, od.norm2(L.T @ w) <= sigma]))
    fixed = {"L": jnp.asarray(raw["L"]), "sigma": jnp.asarray(raw["sigma"])}
    A, b, _, _ = form.data({**fixed, "mu": jnp.asarray(raw["mu"][0])})
    c = jax.vmap(lambda mu: form.data({**fixed, "mu": mu})[2])(jnp.asarray(raw["mu"]))

    def one(d: dict[str, jax.Array]) -> Any:
        point, info = solve_conic_diff(A, b, d["c"], form.cones)
        return point.x, info

    m = A.shape[0]
    return one, {"c": c}, ("c",), {"n": A.shape[1], "m": m, "p": form.cones.zero, "unknowns": A.shape[1] + m}


FAMILIES = {"qp": _qp, "socp": _socp}


def _program(one: Any, weights: jax.Array, wrt: tuple[str, ...]) -> Any:
    """``(data) -> ((loss, gradient), iterations, status)`` of a batch, compiled for the current mode; the
    gradient is with respect to the data named in ``wrt``."""
    def loss(theta, d):
        x, aux = jax.vmap(one)({**d, **theta})
        return jnp.sum(weights * x), aux

    def run(d):
        (value, aux), grad = jax.value_and_grad(loss, has_aux=True)({key: d[key] for key in wrt}, d)
        return (value, grad), aux.iterations, aux.status

    return jax.jit(run)


def measure(family: str, n: int, batch: int, runs: int) -> dict[str, Any]:
    """One (size, batch): both modes' times, iterations and whether they agree."""
    one, data, wrt, row = FAMILIES[family](n, batch)
    weights = jnp.asarray(np.random.default_rng(1).normal(size=(batch, row["n"])))
    row = {**row, "batch": batch}
    outs = {}
    for mode, threshold in MODES.items():
        with mock.patch.object(base, "LOCKSTEP_MAX_SIZE", threshold), \
                mock.patch.object(iteration, "LOCKSTEP_MAX_SIZE", threshold):
            program = _program(one, weights, wrt)
            outs[mode] = program(data)
            row[f"{mode}_ms"] = _cpu_ms(program, (data,), runs)
    iterations = np.asarray(outs["loop"][1])
    row["iters_mean"], row["iters_max"] = float(iterations.mean()), int(iterations.max())
    row["same"] = bool(np.array_equal(outs["loop"][1], outs["lockstep"][1])
                       and np.array_equal(outs["loop"][2], outs["lockstep"][2]))
    row["speedup"] = row["loop_ms"] / row["lockstep_ms"]
    return row


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    lines = ["| n | m | p | unknowns | batch | loop ms | lock-step ms | loop / lock-step | iters mean | iters max "
             "| same statuses, iterations |", "|---" * 11 + "|"]
    lines += [f"| {r['n']} | {r['m']} | {r['p']} | {r['unknowns']} | {r['batch']} | {r['loop_ms']:.2f} "
              f"| {r['lockstep_ms']:.2f} | {r['speedup']:.2f} | {r['iters_mean']:.1f} | {r['iters_max']} "
              f"| {r['same']} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lockstep", description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=sorted(FAMILIES), default="qp", help="the solver and its problems")
    parser.add_argument("--quick", action="store_true", help="one tiny case")
    parser.add_argument("--runs", type=int, default=10, help="timed calls after warm-up (median reported)")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args(argv)
    sizes, batches = (QUICK if args.quick else FULL)[args.family]
    rows = []
    for n in sizes:
        for batch in batches:
            rows.append(measure(args.family, n, batch, args.runs))
            print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
            if args.json:
                args.json.write_text(json.dumps(rows, indent=1))
    print(table(rows))
    return rows


if __name__ == "__main__":
    main()
