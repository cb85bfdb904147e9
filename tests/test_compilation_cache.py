"""The persistent compilation cache: a second process that solves the same model loads its programs from disk.

Each check runs fresh Python processes (the cache is per process state), with the cache directory
set through ``OPTDSL_COMPILATION_CACHE``.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Solves a small QP and prints how many compiled programs JAX read from its persistent cache, which directory it
# used and from which compile time it caches a program.
SCRIPT = """
import json, jax
jax.config.update("jax_enable_x64", True)
hits = []
jax.monitoring.register_event_listener(lambda event, **kw: hits.append(event) if event.endswith("cache_hits") else None)
import jax.numpy as jnp
import optdsl as od
jnp.ones(3).sum()  # a computation before optdsl compiles anything: the cache still turns on
x, c = od.Variable(6, name="x"), od.Parameter(6, name="c")
solve = od.Problem(od.Minimize(od.sum_squares(x - c)), [od.sum(x) == 1, x >= 0]).compile()
value = jax.grad(lambda c: solve(c=c).objective)(jnp.linspace(-1.0, 1.0, 6))
print(json.dumps({"hits": len(hits), "dir": jax.config.jax_compilation_cache_dir, "grad": value.tolist(),
                  "min_seconds": jax.config.jax_persistent_cache_min_compile_time_secs}))
"""


def run(env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-c", SCRIPT], env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=600, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_second_process_reads_the_programs_the_first_wrote(tmp_path: Path):
    # Every program cached, however fast this machine compiles it (JAX's own threshold is one second).
    env = {"OPTDSL_COMPILATION_CACHE": str(tmp_path), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    first = run(env)
    assert first["dir"] == str(tmp_path) and any(tmp_path.iterdir()) and first["min_seconds"] == 0
    second = run(env)
    assert second["hits"] > first["hits"]
    assert second["grad"] == pytest.approx(first["grad"], abs=1e-12)


def test_off_leaves_jax_without_a_cache_and_a_users_own_directory_wins(tmp_path: Path):
    off = run({"OPTDSL_COMPILATION_CACHE": "off"})
    assert off["dir"] is None and off["min_seconds"] == 1.0  # JAX's settings untouched
    own = tmp_path / "own"
    assert run({"OPTDSL_COMPILATION_CACHE": str(tmp_path), "JAX_COMPILATION_CACHE_DIR": str(own)})["dir"] == str(own)
    assert [p for p in tmp_path.iterdir() if p != own] == []  # nothing written to optdsl's directory


def test_small_programs_are_cached_unless_the_threshold_is_set(tmp_path: Path):
    from optdsl.runtime.compilation_cache import MIN_COMPILE_SECONDS

    assert run({"OPTDSL_COMPILATION_CACHE": str(tmp_path)})["min_seconds"] == MIN_COMPILE_SECONDS


# Builds the same cvxpy model and layer twice in one process, as re-running a notebook cell does (cvxpy numbers and
# names its leaves process-wide, so the second build has other names), and prints the cache hits and misses of each
# build's first solve and gradient.
REBUILT = """
import json, jax
jax.config.update("jax_enable_x64", True)
events = []
jax.monitoring.register_event_listener(lambda event, **kw: events.append(event.rpartition("/")[2]))
import cvxpy as cp
import jax.numpy as jnp
import optdsl as od
counts, grads = [], []
for build in range(2):
    c, x = cp.Parameter(6), cp.Variable(6)
    layer = od.Layer(cp.Problem(cp.Minimize(cp.sum(cp.kl_div(x, c))), [cp.sum(x) == 1]), [c], [x])
    before = len(events)
    layer(jnp.linspace(1.0, 2.0, 6))
    grads.append(jax.grad(lambda p: layer(p)[0] @ jnp.arange(6.0))(jnp.linspace(1.0, 2.0, 6)).tolist())
    counts.append({kind: events[before:].count(kind) for kind in ("cache_hits", "cache_misses")})
print(json.dumps({"counts": counts, "grads": grads}))
"""


def test_a_model_built_again_under_other_names_reads_its_programs_from_the_cache(tmp_path: Path):
    done = subprocess.run([sys.executable, "-c", REBUILT], env={**os.environ, "OPTDSL_COMPILATION_CACHE": str(tmp_path),
                                                               "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"},
                          capture_output=True, text=True, timeout=600, check=True)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    first, second = out["counts"]
    assert first["cache_misses"] >= 1 and second["cache_misses"] == 0 and second["cache_hits"] >= 1
    assert out["grads"][1] == pytest.approx(out["grads"][0], abs=1e-12)
