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
