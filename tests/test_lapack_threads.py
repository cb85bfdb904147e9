"""The threads of the LAPACK behind jaxlib's CPU kernels: one once optdsl compiles a problem, unless the user chose.

The setting is per process, so each check runs a fresh Python process that compiles a small model and reports the
thread counts of the BLAS libraries loaded before and after.
"""

import json
import os
import subprocess
import sys

import pytest

from optdsl.errors import ArgumentError
from optdsl.runtime import lapack_threads

SCRIPT = """
import json, threadpoolctl
import jax, scipy.linalg.cython_lapack
import optdsl as od
counts = lambda: {lib.filepath: lib.num_threads for lib in threadpoolctl.ThreadpoolController().lib_controllers}
before = counts()
x, c = od.Variable(3, name="x"), od.Parameter(3, name="c")
od.Problem(od.Minimize(od.sum_squares(x - c)), [x >= 0]).compile()
print(json.dumps({"before": before, "after": counts()}))
"""


def threads(**env: str) -> tuple[dict[str, int], dict[str, int]]:
    """``(before, after)``: threads per loaded BLAS library, by path, around the first ``compile`` of a process."""
    base = {k: v for k, v in os.environ.items() if k not in (lapack_threads.ENV, *lapack_threads.USER_ENV)}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env={**base, **env}, capture_output=True, text=True,
                          timeout=600, check=True)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out["before"], out["after"]


def shipped_by_scipy(path: str) -> bool:
    return "/scipy/" in path or "/scipy.libs/" in path or "\\scipy" in path


def scipy_libraries(counts: dict[str, int]) -> list[str]:
    """The loaded BLAS libraries scipy ships (the test is skipped where scipy links to one it does not ship)."""
    found = [path for path in counts if shipped_by_scipy(path)]
    if not found:
        pytest.skip("scipy uses a BLAS it does not ship here; optdsl leaves such a library as it is")
    return found


def test_compiling_a_problem_sets_scipys_lapack_to_one_thread_and_leaves_other_libraries():
    before, after = threads()
    assert all(after[path] == 1 for path in scipy_libraries(after))
    assert all(after[path] == before[path] for path in after if not shipped_by_scipy(path))


@pytest.mark.parametrize("env", [{lapack_threads.ENV: "keep"}, {"OPENBLAS_NUM_THREADS": "2"}])
def test_the_users_choice_stands(env):
    before, after = threads(**env)
    assert after == before


def test_a_number_of_threads_can_be_asked_for():
    _, after = threads(**{lapack_threads.ENV: "2"})
    assert all(after[path] == 2 for path in scipy_libraries(after))


@pytest.mark.parametrize("setting, expected", [("", 1), ("3", 3), (" keep ", None), ("OFF", None)])
def test_the_setting_is_read_from_the_environment(monkeypatch, setting, expected):
    for name in lapack_threads.USER_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(lapack_threads.ENV, setting)
    assert lapack_threads.requested() == expected


def test_a_users_blas_variable_means_no_change(monkeypatch):
    monkeypatch.delenv(lapack_threads.ENV, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert lapack_threads.requested() is None


@pytest.mark.parametrize("setting", ["0", "-2", "two"])
def test_a_bad_setting_is_a_typed_error_naming_the_variable(monkeypatch, setting):
    monkeypatch.setenv(lapack_threads.ENV, setting)
    with pytest.raises(ArgumentError, match=lapack_threads.ENV):
        lapack_threads.requested()
