"""The examples run as a user runs them and print what they claim."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str, *args: str) -> str:
    result = subprocess.run([sys.executable, str(EXAMPLES / name), *args],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_ridge_jacobian_matches_closed_form():
    out = run_example("ridge_jacobian.py", "--theta", "10")
    max_diff = float(re.search(r"max \|difference\| = (\S+)", out).group(1))
    assert max_diff <= 1e-8
    assert "implicit Jacobian" in out and "closed form" in out


def test_quickstart_gradient_matches_finite_difference():
    out = run_example("quickstart.py")
    implicit, fd = map(float, re.search(r"implicit (\S+), finite difference (\S+),", out).groups())
    assert abs(implicit - fd) <= 1e-6 * abs(fd)
    assert "method chosen by the compiler: proximal_gradient" in out
    assert "status solved" in out


# --- the paper's experiments, each in --quick mode -------------------------------------------------------------------

def _relative(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def _figures(out: Path, *names: str) -> None:
    for name in names:
        assert (out / name).stat().st_size > 10_000, f"figure {name} missing or empty"


def test_svm_hyperparameter_gradients_descent_and_unrolled_agreement(tmp_path):
    out = run_example("svm_hyperparameter.py", "--quick", "--out", str(tmp_path))
    checks = re.findall(r"gradient check (\S+): implicit (\S+), finite difference (\S+),", out)
    assert {name for name, _, _ in checks} == {"projected_gradient", "mirror"}
    for _, implicit, fd in checks:
        assert _relative(float(implicit), float(fd)) <= 1e-4
    runs = re.findall(r"p=(\d+) map=(\S+) diff=(\S+): time per outer step (\S+) s, "
                      r"validation loss (\S+) -> (\S+),", out)
    final = {(p, m, d): float(last) for p, m, d, _, _, last in runs}
    assert len(final) == 4  # two maps, two differentiation modes (one value of p in --quick)
    for _, _, _, seconds, first, last in runs:
        assert float(seconds) > 0
        assert float(last) < float(first)  # gradient descent on lambda lowers the validation loss
    for p, m, _ in final:
        assert abs(final[p, m, "implicit"] - final[p, m, "unrolled"]) <= 1e-3
    _figures(tmp_path, "svm_runtime.png", "svm_validation_loss.png")


def test_dictionary_learning_table_and_gradient(tmp_path):
    out = run_example("dictionary_learning.py", "--quick", "--out", str(tmp_path))
    implicit, fd = map(float, re.search(r"implicit (\S+), finite difference (\S+),", out).groups())
    assert _relative(implicit, fd) <= 1e-4
    header = next(line for line in out.splitlines() if "L1 logreg" in line and "Task-driven DictL" in line)
    assert all(name in header for name in ("L1 logreg", "L2 logreg", "DictL + L2 logreg", "Task-driven DictL"))
    assert re.search(r"^test AUC \(%\)(\s+\d+\.\d+ ± \d+\.\d+){4}$", out, re.MULTILINE)
    aucs = dict(re.findall(r"AUC (.+?): mean (\S+), std \S+, splits 2", out))
    assert set(aucs) == {"L1 logreg", "L2 logreg", "DictL + L2 logreg", "Task-driven DictL"}
    assert all(0.9 < float(v) <= 1.0 for v in aucs.values())
    losses = re.findall(r"task-driven training loss (\S+) -> (\S+)", out)
    assert len(losses) == 2 and all(float(b) < float(a) for a, b in losses)
    _figures(tmp_path, "dictionary_training_loss.png")


def test_dataset_distillation_accuracy_and_gradients(tmp_path):
    out = run_example("dataset_distillation.py", "--quick", "--out", str(tmp_path))
    implicit, fd = map(float, re.search(r"implicit (\S+), finite difference (\S+),", out).groups())
    assert _relative(implicit, fd) <= 1e-5
    zero = re.search(r"prototypes = 0 .*: implicit (\S+), unrolled (\S+)$", out, re.MULTILINE)
    zero_implicit, zero_unrolled = map(float, zero.groups())
    assert zero_unrolled == 0.0 < zero_implicit  # unrolling zero iterations gives a zero derivative
    pattern = r"^(implicit|unrolled): time per outer step \S+ s, training loss (\S+) -> (\S+)"
    runs = {label: (float(a), float(b)) for label, a, b in re.findall(pattern, out, re.MULTILINE)}
    assert runs["implicit"][1] < 0.5 * runs["implicit"][0]
    assert _relative(runs["unrolled"][1], runs["implicit"][1]) <= 1e-6
    accuracy = float(re.search(r"held-out accuracy .*: (\S+) \(chance", out).group(1))
    assert accuracy >= 0.5
    _figures(tmp_path, "distilled_prototypes.png", "distillation_loss.png")


def test_molecular_dynamics_sensitivity_matches_finite_difference(tmp_path):
    out = run_example("molecular_dynamics.py", "--quick", "--out", str(tmp_path))
    force = float(re.search(r"force norm (\S+),", out).group(1))
    assert force <= 1e-10
    relative = float(re.search(r"\|JVP - finite difference\| / \|finite difference\| = (\S+)", out).group(1))
    assert relative <= 1e-4
    implicit_residual = float(re.search(r"residual of the implicit JVP: (\S+)", out).group(1))
    assert implicit_residual <= 1e-8
    unrolled_residual = float(re.search(r"sensitivity equation residual median (\S+)", out).group(1))
    assert unrolled_residual > 1e3 * implicit_residual  # unrolling FIRE does not give the sensitivity
    _figures(tmp_path, "md_sensitivity.png", "md_unrolled_divergence.png")


def test_jacobian_precision_implicit_error_bounded_by_solution_error(tmp_path):
    out = run_example("jacobian_precision.py", "--quick", "--out", str(tmp_path))
    for problem in ("ridge", "svm"):
        pattern = rf"^{problem} t=\d+: solution error (\S+), jacobian error implicit (\S+), unrolled (\S+)$"
        rows = [tuple(map(float, r)) for r in re.findall(pattern, out, re.MULTILINE)]
        assert len(rows) >= 2
        for solution, implicit, _ in rows:
            assert implicit <= 2 * solution  # ‖J(x̂) − ∂x*‖ ≤ C ‖x̂ − x*‖ (§2.3)
        solution, implicit, unrolled = rows[-1]
        assert solution <= 1e-5 and implicit < unrolled
    _figures(tmp_path, "jacobian_precision.png")


def test_optimization_layer_trains_through_the_qp(tmp_path):
    out = run_example("optimization_layer.py", "--quick", "--out", str(tmp_path))
    implicit, fd = map(float, re.search(r"implicit (\S+), finite difference (\S+),", out).groups())
    assert abs(implicit - fd) <= 1e-5 * abs(fd)
    first, last = map(float, re.search(r"training loss (\S+) -> (\S+) after", out).groups())
    assert last < 0.05 * first
    assert "layer: kkt map" in out
    assert (tmp_path / "optimization_layer_loss.png").stat().st_size > 10_000
