"""Test-wide settings: accuracy checks run in float64, and each module's compiled programs are freed when it ends."""

import gc

import jax
import pytest

jax.config.update("jax_enable_x64", True)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compilation caches after each module.

    Every XLA executable kept alive holds memory mappings; a test process that keeps all of them reaches the
    kernel's per-process map limit (``vm.max_map_count``) and XLA crashes in the middle of a later compile.
    """
    yield
    jax.clear_caches()
    gc.collect()
