"""Smoke test of the benchmark suite: one tiny case of each workload (the ``--quick`` path).

The optdsl side always runs and must match the cvxpy + Clarabel reference; an
anchor (cvxpylayers, JAXopt, qpax: the ``bench`` extra) is measured when its
package is installed and left out of the case when it is not.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root holds `benchmarks/`

from benchmarks import harness, lasso, lp, markowitz, qp, run, svm

WORKLOADS = {"qp": qp, "lasso": lasso, "svm": svm, "markowitz": markowitz, "lp": lp}
#: Anchors each workload compares with, and the package each one needs.
ANCHORS = {"qp": {"qpax": "qpax", "qpax[tight]": "qpax", "jaxopt-OSQP": "jaxopt", "cvxpylayers": "cvxpylayers.jax"},
           "lasso": {"jaxopt-ProximalGradient[implicit]": "jaxopt", "jaxopt-ProximalGradient[unrolled]": "jaxopt",
                     "cvxpylayers": "cvxpylayers.jax"},
           "svm": {"jaxopt-ProjectedGradient[implicit]": "jaxopt"},
           "markowitz": {"cvxpylayers": "cvxpylayers.jax"},
           "lp": {"cvxpylayers": "cvxpylayers.jax"}}
#: Solution error every contender must reach on the tiny cases, and the optdsl implicit gradients' error.
SOL_TOL, GRAD_TOL = 1e-4, 1e-3


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_quick_case_runs_and_optdsl_matches_the_reference(name):
    (case,) = WORKLOADS[name].cases(quick=True)
    names = [c.name for c in case.contenders]
    assert names[0].startswith("optdsl[")
    expected = {a for a, module in ANCHORS[name].items() if harness.optional(module) is not None}
    assert expected == {n for n in names if not n.startswith("optdsl")}
    rows = [harness.measure(case, c, runs=1) for c in case.contenders]
    for row in rows:
        assert row["fwd_s"] > 0 and row["fwdbwd_s"] > 0 and row["compile_s"] > 0, row
        assert row["sol_err"] < SOL_TOL, row
        if row["contender"].startswith("optdsl") and "unrolled" not in row["contender"]:
            assert row["grad_err"] < GRAD_TOL, row


def test_missing_anchor_packages_leave_only_the_optdsl_side(monkeypatch):
    for module in WORKLOADS.values():
        monkeypatch.setattr(module, "optional", lambda _name: None)
    for name, module in WORKLOADS.items():
        (case,) = module.cases(quick=True)
        assert all(c.name.startswith("optdsl[") for c in case.contenders), name
        assert case.contenders


def test_command_prints_the_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "rows.json"
    rows = run.main(["--quick", "--only", "compile", "--runs", "1", "--json", str(out)])
    printed = capsys.readouterr().out
    assert "| compile | lasso n=100 |" in printed and "| compile | simplex_ls n=100 |" in printed
    saved = json.loads(out.read_text())
    assert [r["size"] for r in saved] == [r["size"] for r in rows] == ["lasso n=100", "simplex_ls n=100"]
    assert all(np.isfinite(r["compile_s"]) and r["compile_s"] >= r["build_s"] > 0 for r in saved)


def test_ratio_is_optdsl_time_over_anchor_time():
    rows = [{"contender": "optdsl[kkt]", "fwdbwd_s": 1.0}, {"contender": "qpax", "fwdbwd_s": 4.0}]
    run._ratios(rows)
    assert rows[0]["ratio"] is None and rows[1]["ratio"] == pytest.approx(0.25)
