"""A batch of QPs solved and differentiated across 4 (forced host) devices equals the one-device batch.

The device count is fixed when JAX starts, so the check runs in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent('''
    import json
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np
    import optdsl as od
    from optdsl.runtime import batch_map, batch_mesh, shard_batch

    rng = np.random.default_rng(0)
    n, m, p, batch = 10, 15, 3, 64
    G, A = rng.normal(size=(m, n)), rng.normal(size=(p, n))
    M = rng.normal(size=(n, n))
    x = od.Variable(n, name="x")
    q, h = od.Parameter(n, name="q"), od.Parameter(m, name="h")
    feasible = rng.random(n)  # meets the equality, and every instance's inequalities strictly
    problem = od.Problem(od.Minimize(0.5 * od.quad_form(x, M @ M.T + np.eye(n)) + q @ x),
                         [(G @ x <= h).named("ineq"), (A @ x == A @ feasible).named("eq")])
    solve = problem.compile()
    params = {"q": rng.normal(size=(batch, n)), "h": G @ feasible + rng.random((batch, m))}

    def loss(solutions):
        return jnp.sum(solutions.x ** 2) + jnp.sum(solutions.dual("ineq"))

    one = jax.jit(jax.vmap(solve))(params)
    one_grad = jax.jit(jax.grad(lambda b: loss(jax.vmap(solve)(b))))(params)
    sharded_params = shard_batch(params)
    many = jax.jit(batch_map(solve))(sharded_params)
    many_grad = jax.jit(jax.grad(lambda b: loss(batch_map(solve)(b))))(sharded_params)
    diff = lambda a, b: float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
    print(json.dumps({
        "devices": len(jax.devices()),
        "mesh": int(batch_mesh().devices.size),
        "x_devices": len(many.x.sharding.device_set),
        "grad_devices": len(many_grad["q"].sharding.device_set),
        "solved": int(np.sum(np.asarray(many.status) == 0)),
        "x": diff(many.x, one.x), "dual": diff(many.dual("ineq"), one.dual("ineq")),
        "objective": diff(many.objective, one.objective),
        "grad_q": diff(many_grad["q"], one_grad["q"]), "grad_h": diff(many_grad["h"], one_grad["h"]),
        "grad_scale": float(np.max(np.abs(np.asarray(one_grad["q"])))),
    }))
''')


@pytest.fixture(scope="module")
def report() -> dict:
    flags = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_64_qps_over_4_devices_match_the_one_device_batch(report):
    assert report["devices"] == report["mesh"] == 4
    assert report["x_devices"] == report["grad_devices"] == 4  # results stay spread over the mesh
    assert report["solved"] == 64
    for key in ("x", "dual", "objective"):
        assert report[key] <= 1e-9, key
    assert report["grad_scale"] > 1e-3  # a gradient worth comparing
    for key in ("grad_q", "grad_h"):
        assert report[key] <= 1e-8, key
