"""Seeded random LPs, QPs and SOCPs (feasible, infeasible, unbounded) against cvxpy + Clarabel.

The default run checks 240 instances (one batched, vmapped solve per family);
``OPTDSL_CROSSCHECK=1000 python -m pytest tests/test_crosscheck.py`` checks 1000
of each family. Status must agree on every instance, and solved instances must
match the reference objective and solution.
"""

from __future__ import annotations

import os

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optdsl as od
from optdsl.runtime import status

COUNT = int(os.environ.get("OPTDSL_CROSSCHECK", "80"))
N, M, P = 4, 8, 1
CLARABEL = dict(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
CVXPY_STATUS = {cp.OPTIMAL: status.SOLVED, cp.INFEASIBLE: status.INFEASIBLE, cp.UNBOUNDED: status.UNBOUNDED}


def _instance(rng: np.random.Generator, kind: str, x0: np.ndarray | None) -> dict[str, np.ndarray]:
    """Random data of one of three kinds: feasible (at ``x0``) and bounded, infeasible, unbounded."""
    G = rng.normal(size=(M, N))
    x0 = rng.normal(size=N) if x0 is None else x0
    h = G @ x0 + rng.random(M)
    c = -G.T @ rng.random(M)  # dual feasible: bounded
    if kind == "infeasible":  # rows 0 and 1 ask g.x <= h0 and g.x >= h0 + 1
        G[1], h[1] = -G[0], -h[0] - 1.0
    elif kind == "unbounded":  # a recession direction d (G d <= 0) along which c decreases
        d = rng.normal(size=N)
        G = np.where((G @ d > 0)[:, None], -G, G)
        h = G @ x0 + rng.random(M)
        c = -d
    return {"c": c, "G": G, "h": h}


def _kinds(count: int, allowed: tuple[str, ...], seed: int, x0: np.ndarray | None = None) -> list[tuple[str, dict]]:
    rng = np.random.default_rng(seed)
    return [(kind, _instance(rng, kind, x0)) for kind in (allowed[i % len(allowed)] for i in range(count))]


def _check(problem: od.Problem, cvxpy_problem, instances, method=None):
    solve = problem.compile(method=method)
    batch = {k: jnp.stack([jnp.asarray(d[k]) for _, d in instances]) for k in instances[0][1]}
    sols = jax.jit(jax.vmap(solve))(batch)
    disagreements, seen = [], set()
    for i, (kind, data) in enumerate(instances):
        expected_status, objective, x = cvxpy_problem(data)
        seen.add(expected_status)
        got = int(sols.status[i])
        if got != expected_status:
            disagreements.append(f"{i} ({kind}): status {status.describe(got)} vs {status.describe(expected_status)}")
        elif got == status.SOLVED:
            scale = max(1.0, abs(objective))
            if abs(float(sols.objective[i]) - objective) > 1e-6 * scale or np.abs(sols["x"][i] - x).max() > 1e-5:
                disagreements.append(f"{i} ({kind}): objective {float(sols.objective[i])} vs {objective}")
    assert not disagreements, "\n".join(disagreements)
    return seen


def _reference(objective, constraints, x):
    prob = cp.Problem(objective, constraints)
    prob.solve(**CLARABEL)
    return CVXPY_STATUS[prob.status], prob.value, x.value


def test_random_lps():
    x = od.Variable(N, name="x")
    c, G, h = od.Parameter(N, name="c"), od.Parameter((M, N), name="G"), od.Parameter(M, name="h")
    problem = od.Problem(od.Minimize(c @ x), [G @ x <= h])

    def reference(d):
        xc = cp.Variable(N)
        return _reference(cp.Minimize(d["c"] @ xc), [d["G"] @ xc <= d["h"]], xc)

    seen = _check(problem, reference, _kinds(COUNT, ("feasible", "infeasible", "unbounded"), 0))
    assert seen == {status.SOLVED, status.INFEASIBLE, status.UNBOUNDED}


def test_random_qps():
    rng = np.random.default_rng(1)
    F = rng.normal(size=(N, N))
    Q0, A0 = F @ F.T + 0.1 * np.eye(N), rng.normal(size=(P, N))
    x = od.Variable(N, name="x")
    c, G, h = od.Parameter(N, name="c"), od.Parameter((M, N), name="G"), od.Parameter(M, name="h")
    problem = od.Problem(od.Minimize(0.5 * od.quad_form(x, Q0) + c @ x), [G @ x <= h, A0 @ x == A0 @ np.ones(N)])

    def reference(d):
        xc = cp.Variable(N)
        return _reference(cp.Minimize(0.5 * cp.quad_form(xc, Q0) + d["c"] @ xc),
                          [d["G"] @ xc <= d["h"], A0 @ xc == A0 @ np.ones(N)], xc)

    seen = _check(problem, reference, _kinds(COUNT, ("feasible", "infeasible"), 2, x0=np.ones(N)))
    assert seen == {status.SOLVED, status.INFEASIBLE}


@pytest.mark.parametrize("method", ["conic"])
def test_random_socps(method):
    rng = np.random.default_rng(3)
    B0, e0 = rng.normal(size=(3, N)), rng.normal(size=N)
    x = od.Variable(N, name="x")
    c, G, h = od.Parameter(N, name="c"), od.Parameter((M, N), name="G"), od.Parameter(M, name="h")
    problem = od.Problem(od.Minimize(c @ x), [od.norm2(B0 @ x) <= e0 @ x + 10.0, G @ x <= h])

    def reference(d):
        xc = cp.Variable(N)
        return _reference(cp.Minimize(d["c"] @ xc), [cp.norm(B0 @ xc, 2) <= e0 @ xc + 10.0, d["G"] @ xc <= d["h"]],
                          xc)

    seen = _check(problem, reference, _kinds(COUNT, ("feasible", "infeasible"), 4), method=method)
    assert seen == {status.SOLVED, status.INFEASIBLE}
