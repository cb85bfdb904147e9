"""The optdsl command, run as a user runs it (a subprocess), for each subcommand and a bad file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

MODELS = Path(__file__).resolve().parents[1] / "examples" / "models"


def optdsl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "optdsl.cli", *args], check=False, capture_output=True, text=True,
                          timeout=300)


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
    status = out.stdout.split()[1]
    assert out.returncode == 1 and out.stdout.startswith("status: ") and status != "solved"
    assert _one_line(out.stderr).startswith(f"optdsl solve: the solve ended with status {status}: constraint violation")
    out = optdsl("grad", str(model), "--data", str(data), "--of", "sum(w)", "--wrt", "c")
    assert out.returncode == 1 and out.stdout == ""
    assert f"status {status}: no gradient" in _one_line(out.stderr)


def _one_line(stderr: str) -> str:
    """The single line a failing command writes: a reason, not a traceback."""
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
    return stderr.strip()


def _strict_json(text: str) -> dict:
    """Parse ``text`` as standard JSON: NaN / Infinity literals (a Python extension) are rejected."""
    def reject(constant: str):
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=reject)


def test_jsonable_keeps_shapes_and_writes_non_finite_numbers_as_null():
    from optdsl.cli import _jsonable

    assert _jsonable(np.array([[1.5, np.nan], [np.inf, -np.inf]])) == [[1.5, None], [None, None]]
    assert _jsonable(np.float64(np.nan)) is None and _jsonable(np.float32(2.5)) == 2.5
    assert _jsonable(np.int32(7)) == 7 and _jsonable(np.zeros((2, 0))) == [[], []]
    assert json.dumps(_jsonable(np.array([np.nan, 1.0])), allow_nan=False) == "[null, 1.0]"


# A linear program the data make infeasible, and one that is unbounded below; the conic route's
# answers to them hold NaN (values, objective, residual or duals).
LPS = {"infeasible": "param c[2]\nvar x[2]\nminimize c @ x\nsubject to\n  x >= c\n  x <= c - 1\n",
       "unbounded": "param c[2]\nvar x[2]\nminimize c @ x\nsubject to\n  x <= 1\n"}


def _lp(tmp_path: Path, kind: str) -> tuple[str, str]:
    model, data = tmp_path / f"{kind}.opt", tmp_path / "c.json"
    model.write_text(LPS[kind])
    data.write_text(json.dumps({"c": [1.0, 2.0]}))
    return str(model), str(data)


@pytest.mark.parametrize("kind", sorted(LPS))
def test_solve_json_of_a_failed_conic_solve_is_strict_json_and_exits_non_zero(tmp_path, kind):
    model, data = _lp(tmp_path, kind)
    out = optdsl("solve", model, "--data", data, "--method", "conic", "--json")
    assert out.returncode == 1
    report = _strict_json(out.stdout)
    assert report["status"] == kind and report["method"] == "conic"
    assert np.shape(report["variables"]["x"]) == (2,) and all(np.shape(d) == (2,) for d in report["duals"].values())
    assert _one_line(out.stderr).startswith(f"optdsl solve: the solve ended with status {kind}")


def test_grad_json_of_a_failed_solve_reports_the_status_and_no_gradient(tmp_path):
    model, data = _lp(tmp_path, "infeasible")
    out = optdsl("grad", model, "--data", data, "--method", "conic", "--of", "sum(x)", "--wrt", "c", "--json")
    assert out.returncode == 1
    report = _strict_json(out.stdout)
    assert report["status"] == "infeasible" and report["gradient"] is None
    assert "status infeasible: no gradient" in _one_line(out.stderr)
