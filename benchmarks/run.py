"""The one command: run the benchmark suite, print the table, optionally write JSON and a plot.

    python -m benchmarks.run [--quick] [--only WORKLOAD ...] [--skip TEXT ...] [--runs N] [--json out.json]
                             [--plot out.png]

``--quick`` runs one tiny case of each workload (the smoke test's path). The
``ratio`` column is optdsl's forward+backward time over the anchor's, measured in
the same run (below 1: optdsl is faster); for rows of optdsl itself it compares
with the case's first optdsl row (e.g. unrolled vs implicit). The ``fidelity``
workload reports gradient errors, not times, in a table of its own, and so does the ``compile``
workload (first-call seconds per route, cold and with the compilation cache warm), and so does the ``scale``
workload (sparse LPs and QPs up to n = 10^5, each row in a process of its own under a time and memory budget).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import jax

from benchmarks import compile_time, expcone, fidelity, lasso, lp, markowitz, powcone, qp, scale, sdp, svm
from benchmarks.harness import measure

jax.config.update("jax_enable_x64", True)

WORKLOADS = {"qp": qp, "lasso": lasso, "svm": svm, "markowitz": markowitz, "lp": lp, "expcone": expcone, "sdp": sdp,
             "powcone": powcone, "compile": compile_time, "fidelity": fidelity, "scale": scale}


def _ratios(rows: list[dict[str, Any]]) -> None:
    """Fill ``ratio`` = first optdsl row's fwd+bwd time / this row's, within each case."""
    mine = next(r for r in rows if r["contender"].startswith("optdsl"))
    for r in rows:
        r["ratio"] = None if r is mine else mine["fwdbwd_s"] / r["fwdbwd_s"]


def _fmt(value: Any, spec: str, scale: float = 1.0) -> str:
    return "-" if value is None else format(scale * value, spec)


#: Columns of a table: (title, row key, format spec or None for the value as it is, scale).
Columns = list[tuple[str, str, str | None, float]]
TIMING: Columns = [("workload", "workload", None, 1), ("size", "size", None, 1), ("contender", "contender", None, 1),
                   ("compile s", "compile_s", ".2f", 1), ("fwd ms", "fwd_s", ".2f", 1e3),
                   ("fwd+bwd ms", "fwdbwd_s", ".2f", 1e3), ("memory MB", "memory_mb", ".2f", 1),
                   ("sol err", "sol_err", ".1e", 1), ("grad err", "grad_err", ".1e", 1),
                   ("optdsl/anchor", "ratio", ".3g", 1)]
FIDELITY: Columns = [("family", "family", None, 1), ("size", "size", None, 1), ("contender", "contender", None, 1),
                     ("instances", "instances", None, 1), ("max err", "max_err", ".1e", 1),
                     ("median err", "median_err", ".1e", 1), ("NaN/Inf", "nonfinite", None, 1),
                     ("singular", "singular", ".0f", 1), ("ref FD err", "ref_fd_err", ".1e", 1),
                     ("ref x err", "ref_x_err", ".1e", 1)]
COMPILE: Columns = [("route", "route", None, 1), ("size", "size", None, 1), ("contender", "contender", None, 1),
                    ("build s", "build_s", ".2f", 1), ("first fwd s", "first_fwd_s", ".2f", 1),
                    ("first grad s", "first_grad_s", ".2f", 1), ("first jit grad s", "first_jit_grad_s", ".2f", 1),
                    ("first total s", "first_total_s", ".2f", 1),
                    ("warm total s", "warm_total_s", ".2f", 1)]

SCALE: Columns = [("kind", "kind", None, 1), ("size", "size", None, 1), ("contender", "contender", None, 1),
                  ("status", "status", None, 1), ("fwd s", "fwd_s", ".3g", 1), ("fwd+bwd s", "fwdbwd_s", ".3g", 1),
                  ("peak MB", "peak_mb", ".0f", 1), ("sol err", "sol_err", ".1e", 1),
                  ("grad err", "grad_err", ".1e", 1), ("ref residual", "ref_residual", ".1e", 1),
                  ("note", "note", None, 1)]


def _markdown(rows: list[dict[str, Any]], columns: Columns) -> str:
    """The rows as a Markdown table of ``columns``."""
    def cell(row: dict[str, Any], key: str, spec: str | None, scale: float) -> str:
        value = row.get(key)
        return str(value) if spec is None else _fmt(value, spec, scale)

    lines = ["| " + " | ".join(title for title, *_ in columns) + " |", "|---" * len(columns) + "|"]
    lines += ["| " + " | ".join(cell(r, *column[1:]) for column in columns) + " |" for r in rows]
    return "\n".join(lines)


def table(rows: list[dict[str, Any]]) -> str:
    """The timing rows as a Markdown table (times in milliseconds)."""
    return _markdown(rows, TIMING)


def fidelity_table(rows: list[dict[str, Any]]) -> str:
    """The ``fidelity`` rows as a Markdown table: gradient errors against the exact derivative."""
    return _markdown(rows, FIDELITY)


def compile_table(rows: list[dict[str, Any]]) -> str:
    """The ``compile`` rows as a Markdown table: first-call seconds, cold and with the cache warm."""
    return _markdown(rows, COMPILE)


def scale_table(rows: list[dict[str, Any]]) -> str:
    """The ``scale`` rows as a Markdown table: CPU seconds, peak memory and errors, or the budget a row exceeded."""
    return _markdown(rows, SCALE)


RENDER = {compile_time.WORKLOAD: compile_table, fidelity.WORKLOAD: fidelity_table, scale.WORKLOAD: scale_table}


def run(quick: bool, only: list[str] | None = None, runs: int = 5, skip: list[str] | None = None,
        json_path: Path | None = None) -> list[dict[str, Any]]:
    """Every case of the chosen workloads, but those whose size label contains a ``skip`` text; one row per
    (case, contender). Each case's rows go to stderr as soon as they are measured, and the rows so far to
    ``json_path``, so a run cut short keeps what it measured."""
    rows = []
    for name, module in WORKLOADS.items():
        if only and name not in only:
            continue
        if module is compile_time:
            batches = [compile_time.run(quick)]
        elif module is fidelity:
            batches = fidelity.run(quick, skip)
        elif module is scale:
            batches = scale.run(quick)
        else:
            batches = ([measure(case, c, runs) for c in case.contenders] for case in module.cases(quick)
                       if not any(text in case.size for text in skip or ()))
        for case_rows in batches:
            if module not in (compile_time, fidelity, scale):
                _ratios(case_rows)
            rows += case_rows
            print("\n".join(RENDER.get(name, table)(case_rows).splitlines()[2:]), file=sys.stderr, flush=True)
            if json_path:
                json_path.write_text(json.dumps(rows, indent=1))
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one tiny case of each workload")
    parser.add_argument("--only", nargs="+", choices=list(WORKLOADS), help="run only these workloads")
    parser.add_argument("--skip", nargs="+", metavar="TEXT", help="leave out cases whose size contains TEXT")
    parser.add_argument("--runs", type=int, default=5, help="timed calls after warm-up (median reported)")
    parser.add_argument("--json", type=Path, help="write the rows here (updated after every case)")
    parser.add_argument("--plot", type=Path, help="write a PNG of the timings here")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    start = time.perf_counter()
    rows = run(args.quick, args.only, args.runs, args.skip, args.json)
    timing = [r for r in rows if r["workload"] not in RENDER]
    regular = [r for r in rows if r["workload"] == fidelity.WORKLOAD and r["margin"] is None]
    weak = [r for r in rows if r["workload"] == fidelity.WORKLOAD and r["margin"] is not None]
    first_calls = [r for r in rows if r["workload"] == compile_time.WORKLOAD]
    sparse_rows = [r for r in rows if r["workload"] == scale.WORKLOAD]
    tables = ((table, timing), (fidelity_table, regular), (fidelity_table, weak), (compile_table, first_calls),
              (scale_table, sparse_rows))
    print("\n\n".join(render(part) for render, part in tables if part))
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    if args.plot and timing:
        from benchmarks.plot import plot

        plot(timing, args.plot)
    return rows


if __name__ == "__main__":
    main()
