"""Where a lock-step batch beats a loop over the instances: the QP interior point on a CPU, by size and batch.

    XLA_FLAGS=--xla_cpu_multi_thread_eigen=false taskset -c 1 python -m benchmarks.lockstep [--quick] [--json out.json]

For random QPs (``benchmarks.qp.instances``: n unknowns, m = n / 2 inequalities,
p = n / 4 equalities) at several batch sizes, the forward+backward of
``sum(w * x)`` through ``solve_qp`` under ``vmap`` is timed in both execution
modes of :func:`~optdsl.runtime.solvers.base.per_instance`: a loop over the
instances (``lax.map``) and one lock-step batch (``vmap``). Times are medians of
process CPU time (one thread, so that other load on the machine does not count).
The table shows both, their ratio, the iterations (mean and max over the batch:
the lock-step batch runs as many steps as its slowest instance) and whether both
modes gave the same statuses and iteration counts. The threshold
:data:`~optdsl.runtime.solvers.base.LOCKSTEP_MAX_SIZE` is read off it. Rows go to
stderr as they are measured, and to ``--json`` (updated after each).
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

from benchmarks.qp import instances
from optdsl.runtime.solvers import base
from optdsl.runtime.solvers.interior_point import solve_qp

jax.config.update("jax_enable_x64", True)

#: (sizes n, batches) of the full and the quick run.
FULL = ((5, 10, 20, 30, 40, 60), (4, 16, 64, 256))
QUICK = ((8,), (4,))
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


def _program(weights: jax.Array) -> Any:
    """``(data) -> ((loss, (dq, dh)), iterations, status)`` of a batch of QPs, compiled for the current mode."""
    def one(d: dict[str, jax.Array]) -> Any:
        return solve_qp(d["Q"], d["q"], d["A"], d["b"], d["G"], d["h"])

    def loss(q, h, d):
        point, aux = jax.vmap(one)({**d, "q": q, "h": h})
        return jnp.sum(weights * point.x), aux

    def run(d):
        (value, aux), grad = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(d["q"], d["h"], d)
        return (value, grad), aux.iterations, aux.status

    return jax.jit(run)


def measure(n: int, batch: int, runs: int) -> dict[str, Any]:
    """One (size, batch): both modes' times, iterations and whether they agree."""
    m, p = n // 2, n // 4
    data = {key: jnp.asarray(v) for key, v in instances(n, m, p, batch).items()}
    weights = jnp.asarray(np.random.default_rng(1).normal(size=(batch, n)))
    row: dict[str, Any] = {"n": n, "m": m, "p": p, "unknowns": n + m + p, "batch": batch}
    outs = {}
    for mode, threshold in MODES.items():
        with mock.patch.object(base, "LOCKSTEP_MAX_SIZE", threshold):
            program = _program(weights)
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
    parser.add_argument("--quick", action="store_true", help="one tiny case")
    parser.add_argument("--runs", type=int, default=10, help="timed calls after warm-up (median reported)")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args(argv)
    sizes, batches = QUICK if args.quick else FULL
    rows = []
    for n in sizes:
        for batch in batches:
            rows.append(measure(n, batch, args.runs))
            print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
            if args.json:
                args.json.write_text(json.dumps(rows, indent=1))
    print(table(rows))
    return rows


if __name__ == "__main__":
    main()
