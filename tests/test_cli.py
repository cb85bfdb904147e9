"""The optdsl command: each subcommand, in-process (``main``), and twice as a user runs it (a subprocess).

A bad input (data file, model file, option or expression) is an error message naming the file, and
the line and column where there is one, on stderr with a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from optdsl import SolverWarning, __version__
from optdsl.cli import main
from optdsl.modeling.problem import Problem

MODELS = Path(__file__).resolve().parents[1] / "examples" / "models"


def optdsl(*args: str) -> subprocess.CompletedProcess:
    """``optdsl *args`` as a user runs it: a new process."""
    return subprocess.run([sys.executable, "-m", "optdsl.cli", *args], check=False, capture_output=True, text=True,
                          timeout=300)


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    """``optdsl *argv`` in this process: the exit status (argparse's too), stdout and stderr."""
    try:
        status = main(list(argv))
    except SystemExit as exit_:
        status = exit_.code
    out, err = capsys.readouterr()
    return status, out, err


def run(capsys, *args: str) -> subprocess.CompletedProcess:
    """``optdsl *args`` in this process (no interpreter or JAX start-up), answered as ``optdsl`` answers."""
    return subprocess.CompletedProcess(args, *_run(capsys, *args))


def test_solve_prints_status_objective_and_variables():
    out = optdsl("solve", str(MODELS / "lasso.opt"), "--data", str(MODELS / "lasso.json"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("status: solved")
    assert "objective: " in out.stdout and "x = [" in out.stdout


def test_solve_json_with_method_override(capsys):
    out = run(capsys, "solve", str(MODELS / "svm_dual.opt"), "--data", str(MODELS / "svm_dual.json"), "--method",
                 "mirror", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["method"] == "mirror" and report["status"] == "solved"
    np.testing.assert_allclose(np.sum(report["variables"]["beta"], axis=1), 1.0, atol=1e-9)


def test_check_prints_curvature_method_and_map(capsys):
    out = run(capsys, "check", str(MODELS / "lasso.opt"), "--dim", "m=20", "--dim", "n=8")
    assert out.returncode == 0, out.stderr
    for fragment in ["curvature convex", "DCP: yes", "method: proximal_gradient", "optimality map: F(z, θ)"]:
        assert fragment in out.stdout


def test_grad_matches_the_python_api(capsys):
    out = run(capsys, "grad", str(MODELS / "lasso.opt"), "--data", str(MODELS / "lasso.json"), "--of", "sum_squares(x)",
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


def test_latex_renders_the_model(capsys):
    out = run(capsys, "latex", str(MODELS / "lasso.opt"), "--dim", "m=20", "--dim", "n=8")
    assert out.returncode == 0, out.stderr
    assert r"\text{minimize}" in out.stdout and r"\left\|x\right\|_{1}" in out.stdout


def test_bad_file_exits_non_zero_with_a_located_message(tmp_path):
    bad = tmp_path / "bad.opt"
    bad.write_text("var x[3]\nminimize norm1(x) +\n")
    out = optdsl("check", str(bad))
    assert out.returncode == 1
    assert f"{bad}:2:" in out.stderr and "^" in out.stderr


def test_non_dcp_model_is_reported_by_check(capsys, tmp_path):
    bad = tmp_path / "nondcp.opt"
    bad.write_text("var x[3]\nminimize sqrt(sum_squares(x))\n")
    out = run(capsys, "check", str(bad))
    assert out.returncode == 1
    assert "not DCP" in out.stdout and "sqrt(sum_squares(x))" in out.stdout


def test_a_missing_parameter_in_the_data_file_is_an_error_message_not_a_traceback(capsys, tmp_path):
    data = json.loads((MODELS / "lasso.json").read_text())
    del data["b"]
    path = tmp_path / "missing.json"
    path.write_text(json.dumps(data))
    out = run(capsys, "solve", str(MODELS / "lasso.opt"), "--data", str(path))
    assert out.returncode == 1
    assert "missing parameters ['b']" in out.stderr and "Traceback" not in out.stderr


def test_solve_and_grad_exit_non_zero_when_the_data_make_the_model_infeasible(capsys, tmp_path):
    model = tmp_path / "budget.opt"
    model.write_text("param c[4]\nvar w[4]\nminimize sum_squares(w - c)\nsubject to\n  sum(w) == 1\n  w >= 0\n"
                     "  w <= 0.1\n")
    data = tmp_path / "budget.json"
    data.write_text(json.dumps({"c": [1.0, 2.0, 3.0, 4.0]}))
    with warnings.catch_warnings(record=True) as caught:  # the command's own line says it, not a SolverWarning
        warnings.simplefilter("always")
        out = run(capsys, "solve", str(model), "--data", str(data))
    assert not [w for w in caught if issubclass(w.category, SolverWarning)]
    status = out.stdout.split()[1]
    assert out.returncode == 1 and out.stdout.startswith("status: ") and status != "solved"
    assert _one_line(out.stderr).startswith(f"optdsl solve: the solve ended with status {status}: constraint violation")
    out = run(capsys, "grad", str(model), "--data", str(data), "--of", "sum(w)", "--wrt", "c")
    assert out.returncode == 1 and out.stdout == ""
    assert f"status {status}: no gradient" in _one_line(out.stderr)


def test_verbose_prints_the_solvers_iterations_before_the_answer(capsys):
    out = run(capsys, "solve", str(MODELS / "lasso.opt"), "--data", str(MODELS / "lasso.json"), "-v")
    log, answer = out.stdout.split("status: ", 1)
    assert out.returncode == 0 and answer.startswith("solved")
    assert "iter     1" in log and "solved after" in log
    quiet = run(capsys, "solve", str(MODELS / "lasso.opt"), "--data", str(MODELS / "lasso.json"))
    assert quiet.stdout.startswith("status: solved")


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
def test_solve_json_of_a_failed_conic_solve_is_strict_json_and_exits_non_zero(capsys, tmp_path, kind):
    model, data = _lp(tmp_path, kind)
    out = run(capsys, "solve", model, "--data", data, "--method", "conic", "--json")
    assert out.returncode == 1
    report = _strict_json(out.stdout)
    assert report["status"] == kind and report["method"] == "conic"
    assert np.shape(report["variables"]["x"]) == (2,) and all(np.shape(d) == (2,) for d in report["duals"].values())
    assert _one_line(out.stderr).startswith(f"optdsl solve: the solve ended with status {kind}")


def test_grad_json_of_a_failed_solve_reports_the_status_and_no_gradient(capsys, tmp_path):
    model, data = _lp(tmp_path, "infeasible")
    out = run(capsys, "grad", model, "--data", data, "--method", "conic", "--of", "sum(x)", "--wrt", "c", "--json")
    assert out.returncode == 1
    report = _strict_json(out.stdout)
    assert report["status"] == "infeasible" and report["gradient"] is None
    assert "status infeasible: no gradient" in _one_line(out.stderr)


def test_grad_of_an_expression_that_is_not_finite_at_the_solution_exits_non_zero(capsys):
    # The lasso's solution has zero entries, where sqrt has no finite derivative.
    out = run(capsys, "grad", str(MODELS / "lasso.opt"), "--data", str(MODELS / "lasso.json"), "--of",
              "sum(sqrt(abs(x)))", "--wrt", "lam")
    assert out.returncode == 1
    assert "not finite at the solution" in _one_line(out.stderr)


# ---- bad input, in-process: a matrix of what a user can get wrong -------------------------------
MODEL = ("dim n\nparam c[n]\nparam lam nonneg\nvar x[n]\nminimize sum_squares(x - c) + lam * norm1(x)\n"
         "subject to\n  budget: sum(x) <= 10\n")
GOOD = {"c": [1.0, 2.0, 3.0], "lam": 0.5}


def _npz(path: Path, **arrays) -> bytes:
    np.savez(path.with_suffix(".npz"), **arrays)
    return path.with_suffix(".npz").read_bytes()


# (case, data file name, its bytes (None: no such file) or a function of the directory, fragment of the message)
BAD_DATA = [
    ("malformed JSON", "data.json", b'{"c": [1, 2, 3], "lam": }', "data.json:1:25: not valid JSON: Expecting value"),
    ("empty JSON", "data.json", b"", "data.json:1:1: not valid JSON"),
    ("non-numeric entry", "data.json", b'{"c": [1, "a", 3], "lam": 0.5}',
     "data.json: parameter 'c' must be a number or an array of numbers, got list of dtype <U"),
    ("a string", "data.json", b'{"c": "abc", "lam": 0.5}', "parameter 'c' must be a number or an array of numbers, "
     "got str 'abc'"),
    ("null", "data.json", b'{"c": [1, 2, 3], "lam": null}', "parameter 'lam' must be a number or an array of numbers"),
    ("an object", "data.json", b'{"c": [1, 2, 3], "lam": {"v": 1}}', "parameter 'lam' must be a number"),
    ("ragged list", "data.json", b'{"c": [[1, 2], [3]], "lam": 0.5}', "parameter 'c' must be a number or an array"),
    ("not an object", "data.json", b"[1, 2, 3]", "data.json: expected a JSON object of parameter values by name"),
    ("a name twice", "data.json", b'{"c": [1, 2, 3], "lam": 0.5, "lam": 1}', "data.json: 'lam' is given twice"),
    ("latin-1", "data.json", '{"c": [1, 2, 3],\n "lam": 0.5, "\u00e9": 1}'.encode("latin-1"),
     "data.json:2:15: the file is not UTF-8 text: byte 0xe9 cannot be decoded"),
    ("deeply nested JSON", "data.json", b'{"c": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
     "data.json: JSON nested too deeply to read"),
    ("a huge whole number", "data.json", b'{"c": [1, 2, 3], "lam": -' + b"9" * 5000 + b"}",
     "data.json: parameter 'lam' has an entry that is not finite: -inf at index ()"),
    ("NaN", "data.json", b'{"c": [1, NaN, 3], "lam": 0.5}', "parameter 'c' has an entry that is not finite: nan at "
     "index (1,)"),
    ("infinite npz", "data.npz", lambda d: _npz(d / "data", c=np.array([1.0, 2.0, np.inf]), lam=0.5),
     "data.npz: parameter 'c' has an entry that is not finite: inf at index (2,)"),
    ("nested beyond numpy", "data.json", b'{"c": ' + b"[" * 100 + b"1" + b"]" * 100 + b', "lam": 0.5}',
     "parameter 'c' must be a number or an array of numbers"),
    ("object npz", "data.npz", lambda d: _npz(d / "data", c=np.array([1, "x", None], dtype=object), lam=0.5),
     "data.npz: array 'c' holds Python objects, which are not loaded"),
    ("string npz", "data.npz", lambda d: _npz(d / "data", c=np.array(["a", "b", "c"]), lam=0.5),
     "data.npz: parameter 'c' must be a number or an array of numbers, got ndarray of dtype <U1"),
    ("npz not an archive", "data.npz", b"not a zip file at all", "data.npz: not an .npz archive of arrays"),
    ("npy named npz", "data.npz", lambda d: (np.save(d / "a.npy", np.zeros(3)), (d / "a.npy").read_bytes())[1],
     "data.npz: holds one unnamed array (an .npy file)"),
    ("other suffix", "data.txt", b"c = 1", "data.txt: data files are .npz or .json, not '.txt'"),
    ("missing data file", "absent.json", None, "No such file or directory: '{dir}/absent.json'"),
    ("missing parameter", "data.json", b'{"c": [1, 2, 3]}', "data.json: missing parameters ['lam']"),
    ("extra parameter", "data.json", b'{"c": [1, 2, 3], "lam": 0.5, "mu": 2}',
     "model.opt: data entry 'mu' is not a param of the model (params: c, lam)"),
    ("misspelled parameter", "data.json", b'{"c": [1, 2, 3], "lamb": 0.5}', "model.opt: data entry 'lamb' is not a "
     "param of the model (params: c, lam); did you mean lam?"),
    ("wrong shape", "data.json", b'{"c": [[1, 2], [3, 4]], "lam": 0.5}',
     "model.opt:2:7: param c is declared as [n] but its data has shape (2, 2)"),
    ("out of domain", "data.json", b'{"c": [1, 2, 3], "lam": -1}',
     "data.json: parameter 'lam' of shape () is declared nonneg but has entry -1.0"),
]
GRAD = ["--of", "sum_squares(x)", "--wrt", "c"]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "model.opt"
    path.write_text(MODEL)
    return path


def _refused(status: int, out: str, err: str, command: str, fragment: str) -> None:
    """A bad input's answer: exit 1, the message on stderr after ``optdsl COMMAND:``, no traceback."""
    assert "Traceback" not in out + err and status == 1, (status, out, err)
    lines = err.rstrip("\n").split("\n")
    assert lines[0].startswith(f"optdsl {command}: ") and fragment in lines[0], err
    assert len(lines) == 1 or (len(lines) == 3 and lines[2].strip() == "^"), err  # a located .opt error shows its line


@pytest.mark.parametrize("command", ["solve", "grad"])
@pytest.mark.parametrize(("case", "name", "content", "fragment"), BAD_DATA, ids=[c[0] for c in BAD_DATA])
def test_a_bad_data_file_is_a_message_naming_it(capsys, model, command, case, name, content, fragment):
    path = model.parent / command / name
    path.parent.mkdir(exist_ok=True)
    if callable(content):
        content = content(path.parent)
    if content is not None:
        path.write_bytes(content)
    status, out, err = _run(capsys, command, str(model), "--data", str(path), *(GRAD if command == "grad" else []))
    # Names and shapes are checked against the model's declarations: those messages name the model file.
    _refused(status, out, err, command, fragment.format(dir=path.parent))
    assert f"{model if fragment.startswith('model.opt') else path}" in err


def _write(directory: Path, name: str, content: bytes) -> str:
    path = directory / name
    path.write_bytes(content)
    return str(path)


BAD_MODELS = [
    ("latin-1", "var x\n# caf\u00e9\nminimize x\n".encode("latin-1"), "model.opt:2:6: the file is not UTF-8 text"),
    ("too deep", ("var x\nminimize " + "(" * 1000 + "x" + ")" * 1000 + "\n").encode(),
     "model.opt:2:110: brackets nest more than 100 deep here"),
    ("huge size", ("var x[" + "9" * 5000 + "]\nminimize sum(x)\n").encode(),
     "model.opt:1:7: a size must be at most 2147483647, got a number of 5000 digits"),
    ("syntax", b"var x[3]\nminimize norm1(x) +\n", "model.opt:2:20: unexpected end of line"),
    ("not DCP to compile", b"var x\nminimize sqrt(x)\n", "model.opt:2:1: objective: minimize sqrt(x): the objective"),
]


@pytest.mark.parametrize(("case", "content", "fragment"), BAD_MODELS, ids=[c[0] for c in BAD_MODELS])
def test_a_bad_model_file_is_a_located_message(capsys, tmp_path, case, content, fragment):
    path = _write(tmp_path, "model.opt", content)
    data = _write(tmp_path, "data.json", b"{}")
    status, out, err = _run(capsys, "solve", path, "--data", data)
    _refused(status, out, err, "solve", fragment.replace("model.opt", path))


def test_a_missing_or_unreadable_model_file_is_a_message_naming_it(capsys, tmp_path):
    for path in [tmp_path / "absent.opt", tmp_path]:
        status, out, err = _run(capsys, "check", str(path), "--dim", "n=3")
        _refused(status, out, err, "check", f"'{path}'")


BAD_OPTIONS = [
    # (argv after the model, fragment of the message)
    (["check", "--dim", "n=abc"], "--dim expects NAME=SIZE with a whole number, got 'n=abc'"),
    (["check", "--dim", "n=" + "9" * 5000], "--dim expects NAME=SIZE with a whole number"),
    (["check", "--dim", "n=3", "--dim", "n=4"], "--dim n is given twice"),
    (["check", "--dim", "n=3", "--dim", "k=4"], "k=4 names no dim of the model (declared dims: n)"),
    (["check", "--dim", "n=3", "--solver", "nope"], "solver 'nope' does not run method"),
    (["grad", "--data", "{data}", "--of", "sum(xx)", "--wrt", "c"], "--of:1:5: unknown name xx; did you mean x?"),
    (["grad", "--data", "{data}", "--of", "sum(x) +", "--wrt", "c"], "--of:1:9: unexpected end of file"),
    (["grad", "--data", "{data}", "--of", "(" * 1000 + "x", "--wrt", "c"], "--of:1:101: brackets nest more than"),
    (["grad", "--data", "{data}", "--of", "x", "--wrt", "c"], "--of must be a scalar expression; 'x' has shape (3,)"),
    (["grad", "--data", "{data}", "--of", "sum(x)", "--wrt", "mu"], "--wrt 'mu' is not a parameter with data"),
    (["solve", "--dim", "n=3"], "the model has params ['c', 'lam']: give their values with --data FILE"),
    (["solve"], "dim n has no size: give it as n=... to parse/load or --dim n=... on the command line"),
]


@pytest.mark.parametrize(("argv", "fragment"), BAD_OPTIONS, ids=[" ".join(a)[:60] for a, _ in BAD_OPTIONS])
def test_a_bad_option_or_expression_is_a_message(capsys, model, argv, fragment):
    data = _write(model.parent, "good.json", json.dumps(GOOD).encode())
    command, *rest = argv
    status, out, err = _run(capsys, command, str(model), *(a.format(data=data) for a in rest))
    _refused(status, out, err, command, fragment)


@pytest.mark.parametrize(("option", "value", "fragment"), [
    ("--method", "newton", "argument --method: invalid choice: 'newton' (choose from 'stationary', "),
    ("--tol", "-1", "argument --tol: expected a positive number, got '-1'"),
    ("--tol", "nan", "argument --tol: expected a positive number, got 'nan'"),
    ("--maxiter", "0", "argument --maxiter: expected a positive whole number, got '0'"),
    ("--maxiter", "2.5", "argument --maxiter: expected a positive whole number, got '2.5'"),
])
def test_bad_usage_exits_2_with_the_choices(capsys, model, option, value, fragment):
    status, out, err = _run(capsys, "check", str(model), "--dim", "n=3", option, value)
    assert status == 2 and "Traceback" not in out + err and fragment in err, err


def test_help_lists_the_methods_and_version_answers(capsys):
    from optdsl.compiler.compile import METHODS

    status, out, _ = _run(capsys, "solve", "--help")
    assert status == 0 and "one of " + ", ".join(METHODS) + " (default" in " ".join(out.split())
    assert all(option in out for option in ["--solver", "--tol", "--maxiter"])
    status, out, _ = _run(capsys, "--version")
    assert status == 0 and out.strip() == f"optdsl {__version__}"
    # --version and the top-level --help answer without importing JAX (a new process, as a user runs it).
    probe = ("import sys\nfrom optdsl.cli import main\nfor argv in (['--version'], ['--help']):\n    try:\n"
             "        main(argv)\n    except SystemExit:\n        pass\nprint('jax' in sys.modules)")
    answer = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert answer.stdout.split()[-1] == "False", answer.stdout + answer.stderr


def test_compile_options_are_passed_through(capsys, model, monkeypatch):
    seen = []
    compile_ = Problem.compile

    def spy(self, *args, **options):
        seen.append(options)
        return compile_(self, *args, **options)

    monkeypatch.setattr(Problem, "compile", spy)
    status, out, err = _run(capsys, "check", str(model), "--dim", "n=3", "--method", "conic", "--solver",
                            "hsde_admm", "--tol", "1e-7", "--maxiter", "50")
    assert status == 0, err
    assert seen == [{"method": "conic", "solver": "hsde_admm", "tol": 1e-7, "maxiter": 50}]
    assert "method: conic" in out and "tol=1e-07, maxiter=50" in out


def test_check_prints_each_constraint_name_once(capsys, model):
    status, out, err = _run(capsys, "check", str(model), "--dim", "n=3")
    assert status == 0, err
    assert "constraint budget: sum(x) <= 10  (DCP)" in out and "budget: budget" not in out


def test_solve_and_grad_take_dims_and_grad_writes_them_in_its_expression(capsys, tmp_path):
    model = _write(tmp_path, "free.opt", b"dim n\nvar x[n]\nminimize sum_squares(x - 1)\nsubject to\n  sum(x) <= 1\n")
    out = run(capsys, "solve", model, "--dim", "n=4", "--json")
    assert out.returncode == 0, out.stderr
    np.testing.assert_allclose(json.loads(out.stdout)["variables"]["x"], np.full(4, 0.25), atol=1e-8)
    model = _write(tmp_path, "shifted.opt", b"dim n\nparam c[n]\nvar x[n]\nminimize sum_squares(x - c)\n")
    data = _write(tmp_path, "c.json", json.dumps({"c": [1.0, 2.0, 3.0]}).encode())
    out = run(capsys, "grad", model, "--data", data, "--of", "sum(x) / n", "--wrt", "c", "--json")
    assert out.returncode == 0, out.stderr
    np.testing.assert_allclose(json.loads(out.stdout)["gradient"], np.full(3, 1 / 3), rtol=1e-9)
