"""Test-wide settings: accuracy checks run in float64, every program (the tests' own ``jax.jit`` too) compiles with
the XLA options optdsl gives its own programs, jaxlib's LAPACK runs on the threads compiled problems give it, compiled
programs are cached in a directory of this run only (shared by its worker processes), and each module's programs are
freed from memory when it ends."""

import gc
import os
import shutil
import tempfile
from collections import Counter

import jax
import pytest

from optdsl.runtime import lapack_threads
from optdsl.runtime.compilation_cache import COMPILER_OPTIONS, ENV

jax.config.update("jax_enable_x64", True)
# Read by XLA when JAX starts its CPU backend, at the first computation, which no import above makes.
os.environ["XLA_FLAGS"] = " ".join([os.environ.get("XLA_FLAGS", "")]
                                   + [f"--{flag}={str(value).lower()}" for flag, value in COMPILER_OPTIONS.items()])
# What compiling a problem sets, from the start: some tests call the solvers without compiling a problem first.
lapack_threads.limit()


#: The run's cache directory, made (and later removed) by the process that starts the run.
_made: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    if "PYTEST_XDIST_WORKER" not in os.environ and ENV not in os.environ:  # the workers inherit it
        _made.append(tempfile.mkdtemp(prefix="optdsl-test-cache-"))
        os.environ[ENV] = _made[0]


def pytest_unconfigure(config: pytest.Config) -> None:
    for directory in _made:
        shutil.rmtree(directory, ignore_errors=True)


#: The modules that take longest (CPU seconds, measured), run first: ``--dist loadfile`` hands a free worker the next
#: module in collection order, so a long module collected last would leave the other worker idle at the end.
LONGEST_FIRST = ("test_cvxpylayers_jax", "test_projections", "test_benchmarks", "test_reliability",
                 "test_cvxpy_standard_gradients", "test_conic", "test_compiler_gallery", "test_power_cone",
                 "test_routing", "test_cvxpy_atoms", "test_interior_point", "test_geometric_programs", "test_conic_ip",
                 "test_examples", "test_layer", "test_canonicalize", "test_implicit_diff")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}

    def module_rank(item: pytest.Item) -> int:
        module = getattr(item, "module", None)
        return rank.get(module.__name__.rpartition(".")[2], len(rank)) if module else len(rank)

    items.sort(key=module_rank)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's in-memory compilation caches after each module.

    Every XLA executable kept alive holds memory mappings; a test process that keeps all of them reaches the
    kernel's per-process map limit (``vm.max_map_count``) and XLA crashes in the middle of a later compile.
    """
    yield
    jax.clear_caches()
    gc.collect()


#: Seconds spent in each test module (setup, call and teardown of its tests), summed on the controlling process.
_module_seconds: Counter[str] = Counter()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _module_seconds[report.nodeid.partition("::")[0]] += report.duration


def pytest_terminal_summary(terminalreporter) -> None:
    """The modules that took longest, to keep ``LONGEST_FIRST`` and the suite's budget honest."""
    if _module_seconds:
        terminalreporter.section("slowest modules (seconds, all their tests)")
        for module, seconds in _module_seconds.most_common(15):
            terminalreporter.write_line(f"{seconds:8.1f}  {module}")
