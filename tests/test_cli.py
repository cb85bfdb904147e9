"""The optdsl command, run as a user runs it (a subprocess), for each subcommand and a bad file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

MODELS = Path(__file__).resolve().parents[1] / "examples" / "models"


def optdsl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "optdsl.cli", *args], capture_output=True, text=True, timeout=300)


def test_solve_prints_status_objective_and_variables():
    out = optdsl("solve", str(MODELS / "lasso.opt"), "--data", str(MODELS / "lasso.json"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("status: solved")
    assert "objective: " in out.stdout and "x = [" in out.stdout


def test_solve_json_with_method_override():
    out = optdsl("solve", str(MODELS / "svm_dual.opt"), "--data", str(MODELS / "svm_dual.json"), "--method",
                 "mirror", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["method"] == "mirror" and report["status"] == "solved"
    np.testing.assert_allclose(np.sum(report["variables"]["beta"], axis=1), 1.0, atol=1e-9)


def test_check_prints_curvature_method_and_map():
    out = optdsl("check", str(MODELS / "lasso.opt"), "--dim", "m=20", "--dim", "n=8")
    assert out.returncode == 0, out.stderr
    for fragment in ["curvature convex", "DCP: yes", "method: proximal_gradient", "optimality map: F(z, θ)"]:
        assert fragment in out.stdout


def test_grad_matches_the_python_api():
    out = optdsl("grad", str(MODELS / "lasso.opt"), "--data", str(MODELS / "lasso.json"), "--of", "sum_squares(x)",
                 "--wrt", "lam", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    import jax
    import jax.numpy as jnp

    import optdsl as od

    jax.config.update("jax_enable_x64", True)
    data = {k: jnp.asarray(v) for k, v in json.loads((MODELS / "lasso.json").read_text()).items()}
    solve = od.load(MODELS / "lasso.opt", data=data).compile()
    expected = jax.grad(lambda lam: jnp.sum(solve({**data, "lam": lam}).x ** 2))(data["lam"])
    np.testing.assert_allclose(report["gradient"], expected, rtol=1e-10)


def test_latex_renders_the_model():
    out = optdsl("latex", str(MODELS / "lasso.opt"), "--dim", "m=20", "--dim", "n=8")
    assert out.returncode == 0, out.stderr
    assert r"\text{minimize}" in out.stdout and r"\left\|x\right\|_{1}" in out.stdout


def test_bad_file_exits_non_zero_with_a_located_message(tmp_path):
    bad = tmp_path / "bad.opt"
    bad.write_text("var x[3]\nminimize norm1(x) +\n")
    out = optdsl("check", str(bad))
    assert out.returncode == 1
    assert f"{bad}:2:" in out.stderr and "^" in out.stderr


def test_non_dcp_model_is_reported_by_check(tmp_path):
    bad = tmp_path / "nondcp.opt"
    bad.write_text("var x[3]\nminimize sqrt(sum_squares(x))\n")
    out = optdsl("check", str(bad))
    assert out.returncode == 1
    assert "not DCP" in out.stdout and "sqrt(sum_squares(x))" in out.stdout


def test_a_missing_parameter_in_the_data_file_is_an_error_message_not_a_traceback(tmp_path):
    data = json.loads((MODELS / "lasso.json").read_text())
    del data["b"]
    path = tmp_path / "missing.json"
    path.write_text(json.dumps(data))
    out = optdsl("solve", str(MODELS / "lasso.opt"), "--data", str(path))
    assert out.returncode == 1
    assert "missing parameters ['b']" in out.stderr and "Traceback" not in out.stderr


def test_solve_and_grad_exit_non_zero_when_the_data_make_the_model_infeasible(tmp_path):
    model = tmp_path / "budget.opt"
    model.write_text("param c[4]\nvar w[4]\nminimize sum_squares(w - c)\nsubject to\n  sum(w) == 1\n  w >= 0\n"
                     "  w <= 0.1\n")
    data = tmp_path / "budget.json"
    data.write_text(json.dumps({"c": [1.0, 2.0, 3.0, 4.0]}))
    out = optdsl("solve", str(model), "--data", str(data))
    assert out.returncode == 1 and out.stdout.startswith("status: inaccurate")
    out = optdsl("grad", str(model), "--data", str(data), "--of", "sum(w)", "--wrt", "c")
    assert out.returncode == 1 and "no gradient" in out.stderr and out.stdout == ""
