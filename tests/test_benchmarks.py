"""Smoke test of the benchmark suite: one tiny case of each workload (the ``--quick`` path).

Each runs through the command (``--quick --only NAME --json``). The optdsl side
always runs and must match the reference; an anchor (cvxpylayers, JAXopt, qpax:
the ``bench`` extra) is measured when its package is installed and left out of
the case when it is not. The exact references of the conic workloads (expcone,
sdp) are checked against central differences of Clarabel-based solves. The fidelity
workload runs once through the command; its designed instances' exact gradients
must agree with Clarabel's central differences, and optdsl's with them.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import cvxpy as cp
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root holds `benchmarks/`

from benchmarks import (compile_time, expcone, fidelity, harness, lasso, lockstep, lp, markowitz, powcone, qp, run,
                        sdp, svm)

WORKLOADS = {"qp": qp, "lasso": lasso, "svm": svm, "markowitz": markowitz, "lp": lp, "expcone": expcone, "sdp": sdp,
             "powcone": powcone}
#: Anchors each workload compares with, and the package each one needs.
ANCHORS = {"qp": {"qpax": "qpax", "qpax[tight]": "qpax", "jaxopt-OSQP": "jaxopt", "cvxpylayers": "cvxpylayers.jax"},
           "lasso": {"jaxopt-ProximalGradient[implicit]": "jaxopt", "jaxopt-ProximalGradient[unrolled]": "jaxopt",
                     "cvxpylayers": "cvxpylayers.jax"},
           "svm": {"jaxopt-ProjectedGradient[implicit]": "jaxopt"},
           "markowitz": {"cvxpylayers": "cvxpylayers.jax"},
           "lp": {"cvxpylayers": "cvxpylayers.jax"}, "expcone": {"cvxpylayers": "cvxpylayers.jax"},
           "sdp": {"cvxpylayers": "cvxpylayers.jax"}, "powcone": {"cvxpylayers": "cvxpylayers.jax"}}
#: The first row of the conic workloads: the route they measure (the logistic model is forced off its default).
CONIC = {"markowitz": "optdsl[conic]", "expcone": "optdsl[conic,forced]", "sdp": "optdsl[conic]",
         "powcone": "optdsl[conic]"}
#: Solution error every contender must reach on the tiny cases, and the optdsl implicit gradients' error.
SOL_TOL, GRAD_TOL = 1e-4, 1e-3
#: Where an anchor solves an approximation of the model (cvxpylayers cannot differentiate power cones, so it gets
#: cvxpy's rational approximation of the geometric mean), the solution error that approximation allows it.
APPROXIMATED = {("powcone", "cvxpylayers"): 1e-2}
#: The fidelity workload's anchors, and the package each one needs (qpax on QPs and LPs only).
FIDELITY_ANCHORS = {"cvxpylayers": "cvxpylayers.jax", "cvxpylayers[tight]": "cvxpylayers.jax", "qpax": "qpax",
                    "qpax[tight]": "qpax"}


#: Workloads whose quick case compiles for long and repeats what the default run checks elsewhere: the harness, the
#: conic route and the cvxpylayers anchor (as markowitz does); each route's solutions and gradients against
#: references in its own tests. They run with the long checks (``-m slow``).
SLOW_WORKLOADS = ("expcone", "sdp", "powcone", "qp", "svm", "lp", "lasso")


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name in SLOW_WORKLOADS else name
                                  for name in WORKLOADS])
def test_quick_case_runs_and_optdsl_matches_the_reference(name, tmp_path, capsys):
    out = tmp_path / "rows.json"
    rows = run.main(["--quick", "--only", name, "--runs", "1", "--json", str(out)])
    printed = capsys.readouterr().out
    assert json.loads(out.read_text()) == rows
    assert {r["workload"] for r in rows} == {name} and len({r["size"] for r in rows}) == 1
    assert all(f"| {name} | {r['size']} | {r['contender']} |" in printed for r in rows)
    names = [r["contender"] for r in rows]
    assert names[0] == CONIC.get(name, names[0]) and names[0].startswith("optdsl[")
    expected = {a for a, module in ANCHORS[name].items() if harness.optional(module) is not None}
    assert expected == {n for n in names if not n.startswith("optdsl")}
    for row in rows:
        assert row["fwd_s"] > 0 and row["fwdbwd_s"] > 0 and row["compile_s"] > 0, row
        assert row["sol_err"] < APPROXIMATED.get((name, row["contender"]), SOL_TOL), row
        if row["contender"].startswith("optdsl") and "unrolled" not in row["contender"]:
            assert row["grad_err"] < GRAD_TOL, row


def test_missing_anchor_packages_leave_only_the_optdsl_side(monkeypatch):
    for module in (*WORKLOADS.values(), harness):
        if hasattr(module, "optional"):  # the workloads' own anchors, and the shared cvxpylayers contender
            monkeypatch.setattr(module, "optional", lambda _name: None)
    for name, module in WORKLOADS.items():
        (case,) = module.cases(quick=True)
        assert all(c.name.startswith("optdsl[") for c in case.contenders), name
        assert case.contenders


def test_compile_workload_times_each_route_cold_and_warm_in_fresh_processes(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(compile_time, "ROUTES", ("projected",))  # one route: each process compiles afresh
    out = tmp_path / "rows.json"
    rows = run.main(["--quick", "--only", "compile", "--json", str(out)])
    printed = capsys.readouterr().out
    assert "| projected | n=10 | optdsl[projected_gradient] |" in printed and "| cli | optdsl --help |" in printed
    saved = json.loads(out.read_text())
    assert saved == rows and [r["route"] for r in rows] == ["projected", "cli"]
    first, cli = rows
    assert first["first_total_s"] == pytest.approx(first["build_s"] + first["first_fwd_s"] + first["first_grad_s"])
    assert all(first[key] > 0 for key in ("build_s", "first_fwd_s", "first_grad_s", "first_jit_grad_s", "warm_total_s"))
    assert cli["first_total_s"] > 0


@pytest.mark.parametrize("size", [(6, 3), (20, 10)])
def test_expcone_reference_is_stationary_and_its_exact_gradient_matches_central_differences(size):
    m, n = size
    data = expcone.make_data(m, n, batch=1)
    X, y = data["X"][0], data["y"]
    w = expcone.reference(X, y)
    assert np.max(np.abs(expcone._newton_system(X, y, w)[1])) < 1e-12
    rng = np.random.default_rng(5)
    c, dX = rng.normal(size=(1, n)), rng.normal(size=(1, m, n))
    slope = float(np.vdot(expcone.exact_gradient(X, y, w, c[0]), dX[0]))
    fd = harness.weighted_fd(lambda X: expcone.reference(X, y), data["X"], dX, c, 1, 1e-5)
    assert abs(fd - slope) < 1e-7 * abs(slope)


def test_powcone_closed_form_is_clarabels_demand_and_its_slope_matches_central_differences():
    data = powcone.make_data(6, batch=1)
    alpha, prices = data["alpha"], data["p"]

    def clarabel(p):
        x = cp.Variable(6)
        cp.Problem(cp.Maximize(cp.geo_mean(x, alpha, approx=False)), [p @ x <= powcone.BUDGET, x >= 0]).solve(
            **harness.CLARABEL)
        return x.value

    x = powcone.reference(alpha, prices[0])
    assert np.allclose(clarabel(prices[0]), x, rtol=1e-6, atol=0)
    rng = np.random.default_rng(5)
    c, dp = rng.normal(size=(1, 6)), rng.normal(size=(1, 6))
    slope = powcone.exact_slope(alpha, prices[0], c[0], dp[0])
    fd = harness.weighted_fd(clarabel, prices, dp, c, 1, 1e-4)
    assert abs(fd - slope) < 1e-5 * abs(slope)


@pytest.mark.parametrize("k", [3, 5])
def test_sdp_reference_is_a_correlation_matrix_and_its_exact_slope_matches_central_differences(k):
    C = sdp.make_data(k, batch=1)["C"]
    assert np.min(np.linalg.eigvalsh(C[0])) == pytest.approx(sdp.LAMBDA_MIN)
    X = sdp.reference(C[0])
    assert np.allclose(np.diag(X), 1.0, atol=1e-12) and np.min(np.linalg.eigvalsh(X)) > -1e-12
    rng = np.random.default_rng(5)
    W, dC = rng.normal(size=(1, k, k)), rng.normal(size=(1, k, k))
    slope = sdp.exact_slope(C[0], W[0], dC[0])
    fd = harness.weighted_fd(sdp.reference, C, dC, W, 1, 1e-5)
    assert abs(fd - slope) < 1e-7 * abs(slope)


def test_ratio_is_optdsl_time_over_anchor_time():
    rows = [{"contender": "optdsl[kkt]", "fwdbwd_s": 1.0}, {"contender": "qpax", "fwdbwd_s": 4.0}]
    run._ratios(rows)
    assert rows[0]["ratio"] is None and rows[1]["ratio"] == pytest.approx(0.25)


@pytest.fixture(scope="module")
def fidelity_run(tmp_path_factory):
    """The quick fidelity workload through the command, once: its printed tables, rows and saved JSON."""
    out = tmp_path_factory.mktemp("fidelity") / "rows.json"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        rows = run.main(["--quick", "--only", "fidelity", "--json", str(out)])
    return printed.getvalue(), rows, json.loads(out.read_text())


def test_fidelity_prints_its_own_tables_and_writes_json(fidelity_run):
    printed, rows, saved = fidelity_run
    head = "| family | size | contender | instances | max err | median err | NaN/Inf | singular | ref FD err |"
    assert printed.count(head) == 2 and "fwd+bwd ms" not in printed  # regular, then near-degenerate
    assert printed.index("| socp |") < printed.rindex(head) < printed.index("| near-degenerate qp |")
    assert [(r["family"], r["contender"]) for r in saved] == [(r["family"], r["contender"]) for r in rows]
    assert list(dict.fromkeys(r["family"] for r in rows)) == ["qp", "lp", "socp", "near-degenerate qp",
                                                               "near-degenerate lp"]


def test_fidelity_contenders_are_optdsl_and_the_installed_anchors(fidelity_run):
    _, rows, _ = fidelity_run
    for family in dict.fromkeys(r["family"] for r in rows):
        names = [r["contender"] for r in rows if r["family"] == family]
        anchors = {a for a, module in FIDELITY_ANCHORS.items()
                   if harness.optional(module) is not None and not (family == "socp" and module == "qpax")}
        assert names[0].startswith("optdsl[") and set(names[1:]) == anchors, family


def test_fidelity_reference_is_confirmed_and_optdsl_matches_it(fidelity_run):
    _, rows, _ = fidelity_run
    for row in rows:
        assert row["instances"] == 1, row
        if row["margin"] is None:
            assert row["ref_fd_err"] < (1e-3 if row["family"] == "socp" else 1e-6), row
            if row["contender"].startswith("optdsl["):
                assert row["max_err"] < 1e-6 and row["nonfinite"] == 0 and row["singular"] == 0, row
        if not row["contender"].startswith("optdsl["):
            assert row["singular"] is None, row


def test_fidelity_without_anchor_packages_runs_optdsl_alone(monkeypatch):
    monkeypatch.setattr(fidelity, "optional", lambda _name: None)
    case = fidelity.cases(quick=True)[0]
    assert [c.name for c in fidelity.contenders(case.spec, case.instances[0].data)] == ["optdsl[kkt]"]


def test_fidelity_error_of_a_nan_gradient_is_infinite():
    ref = {"q": np.array([1.0, -2.0])}
    assert fidelity.relative_error({"q": np.array([1.0, -1.0])}, ref) == pytest.approx(0.5)
    assert fidelity.relative_error({"q": np.array([np.nan, -2.0])}, ref) == np.inf


@pytest.mark.parametrize("family", [pytest.param(family, marks=pytest.mark.slow) if family == "socp" else family
                                    for family in sorted(lockstep.FAMILIES)])  # socp: as test_lockstep's cone batch
def test_lockstep_quick_case_gives_the_same_statuses_and_iterations_in_both_modes(family, capsys):
    """The lock-step benchmark's quick case of each family: a row per (size, batch) with both modes timed and the
    same statuses and iteration counts per instance in both."""
    rows = lockstep.main(["--quick", "--family", family, "--runs", "1"])
    assert rows and all(row["same"] and row["loop_ms"] > 0 and row["lockstep_ms"] > 0 for row in rows)
    assert "| loop / lock-step |" in capsys.readouterr().out
