"""Test-wide settings: accuracy checks run in float64, compiled programs are cached in a directory of this run
only (shared by its worker processes), and each module's programs are freed from memory when it ends."""

import gc
import os
import shutil
import tempfile

import jax
import pytest

from optdsl.runtime.compilation_cache import ENV

jax.config.update("jax_enable_x64", True)


#: The run's cache directory, made (and later removed) by the process that starts the run.
_made: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    if "PYTEST_XDIST_WORKER" not in os.environ and ENV not in os.environ:  # the workers inherit it
        _made.append(tempfile.mkdtemp(prefix="optdsl-test-cache-"))
        os.environ[ENV] = _made[0]


def pytest_unconfigure(config: pytest.Config) -> None:
    for directory in _made:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's in-memory compilation caches after each module.

    Every XLA executable kept alive holds memory mappings; a test process that keeps all of them reaches the
    kernel's per-process map limit (``vm.max_map_count``) and XLA crashes in the middle of a later compile.
    """
    yield
    jax.clear_caches()
    gc.collect()
