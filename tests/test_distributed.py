"""A batch of QPs solved and differentiated by two ``jax.distributed`` CPU processes equals the one-process batch.

Two fresh interpreters join one coordinator on a free localhost port; each supplies its own half of the batch
(``shard_batch(..., local=True)``), solves it with ``batch_map`` and takes the gradient of a loss of the whole
batch's solutions; the gathered results are compared with ``jax.vmap`` over the whole batch in a third interpreter.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

SCRIPT = textwrap.dedent('''
    import sys
    import jax
    jax.config.update("jax_enable_x64", True)
    process_id, num_processes, port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    if num_processes:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=num_processes,
                                   process_id=process_id, initialization_timeout=120)
    import jax.numpy as jnp
    import numpy as np
    from jax.experimental.multihost_utils import process_allgather
    import optdsl as od
    from optdsl.runtime import batch_map, batch_mesh, shard_batch

    rng = np.random.default_rng(0)
    n, m, batch = 4, 6, 4
    G, M = rng.normal(size=(m, n)), rng.normal(size=(n, n))
    x = od.Variable(n, name="x")
    q, h = od.Parameter(n, name="q"), od.Parameter(m, name="h")
    feasible = rng.random(n)  # meets every instance's inequalities strictly
    problem = od.Problem(od.Minimize(0.5 * od.quad_form(x, M @ M.T + np.eye(n)) + q @ x),
                         [(G @ x <= h).named("ineq")])
    solve = problem.compile()
    params = {"q": rng.normal(size=(batch, n)), "h": G @ feasible + rng.random((batch, m))}

    def solve_and_grad(mapped):
        """The batch's solutions and the gradient of a loss of them, from one compiled program."""
        def loss(batch):
            solutions = mapped(solve)(batch)
            return jnp.sum(solutions.x ** 2) + jnp.sum(solutions.dual("ineq")), solutions
        return jax.jit(jax.grad(loss, has_aux=True))

    if num_processes:
        mesh = batch_mesh()
        rows = slice(process_id * batch // num_processes, (process_id + 1) * batch // num_processes)
        local = shard_batch({k: v[rows] for k, v in params.items()}, mesh, local=True)
        grads, solutions = solve_and_grad(lambda fn: batch_map(fn, mesh))(local)
        gather = lambda a: np.asarray(process_allgather(a, tiled=True))
        extra = {"processes": jax.process_count(), "mesh": mesh.devices.size,
                 "local_devices": jax.local_device_count(),
                 "x_devices": len(solutions.x.sharding.device_set)}
    else:
        grads, solutions = solve_and_grad(jax.vmap)(params)
        gather = np.asarray
        extra = {}
    np.savez(out, x=gather(solutions.x), dual=gather(solutions.dual("ineq")),
             objective=gather(solutions.objective), status=gather(solutions.status),
             grad_q=gather(grads["q"]), grad_h=gather(grads["h"]), **extra)
''')

#: Seconds the three interpreters may take together before the run is called hung and all are killed.
TIMEOUT = 300


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _logs(directory, names: list[str]) -> str:
    """The end of each named interpreter's output."""
    return "\n".join(f"--- {name}:\n{(directory / f'{name}.log').read_text()[-3000:]}" for name in names)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[dict]:
    """The reference run's arrays, then each distributed process's; every interpreter is killed if any fails."""
    directory = tmp_path_factory.mktemp("distributed")
    flags = [flag for flag in os.environ.get("XLA_FLAGS", "").split() if "device_count" not in flag]
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": " ".join(flags)}  # one CPU device per process
    port = str(_free_port())
    jobs = {"reference": (0, 0), "process0": (0, 2), "process1": (1, 2)}
    procs = {}
    try:
        for name, (pid, count) in jobs.items():
            with open(directory / f"{name}.log", "w") as log:
                procs[name] = subprocess.Popen(
                    [sys.executable, "-c", SCRIPT, str(pid), str(count), port, str(directory / f"{name}.npz")],
                    env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + TIMEOUT
        while any(proc.poll() is None for proc in procs.values()):  # a failure or a hang ends all at once
            failed = [name for name, proc in procs.items() if proc.poll()]
            assert not failed and time.monotonic() < deadline, _logs(directory, failed or list(procs))
            time.sleep(0.5)
        failed = [name for name, proc in procs.items() if proc.returncode]
        assert not failed, _logs(directory, failed)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return [dict(np.load(directory / f"{name}.npz")) for name in jobs]


def test_two_processes_split_one_global_batch(runs):
    for run in runs[1:]:
        assert run["processes"] == run["mesh"] == 2
        assert run["local_devices"] == 1
        assert run["x_devices"] == 2  # the solutions stay spread over both processes' devices


def test_two_processes_match_the_one_process_batch(runs):
    reference = runs[0]
    assert np.all(reference["status"] == 0)
    assert np.max(np.abs(reference["grad_q"])) > 1e-3  # a gradient worth comparing
    for run in runs[1:]:
        np.testing.assert_array_equal(run["status"], reference["status"])
        for key in ("x", "dual", "objective", "grad_q", "grad_h"):
            assert run[key].shape == reference[key].shape, key
            np.testing.assert_allclose(run[key], reference[key], rtol=0, atol=1e-10, err_msg=key)
