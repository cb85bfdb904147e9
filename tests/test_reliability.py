"""Reliability: seeded random model families on every route that applies, judged against cvxpy + Clarabel.

Each family of ``tests/reliability_families.py`` is one model with parameters, compiled once per route; its instances
(feasible, degenerate, rank-deficient, badly scaled, infeasible, unbounded, ...) are solved as one vmapped batch per
route and every answer is classified (``reliability_families.classify``).

A family fails on a route when (see :func:`_problems`):

- an answer is WRONG: "solved" with a wrong objective or at an infeasible point, or a certificate (infeasible,
  unbounded) that the reference contradicts;
- parameter values that visibly empty a set (crossed bounds, a negative radius, ...) are reported "inaccurate"
  instead of "infeasible";
- on the family's default route, more than ``MAX_MISSED`` of the instances go unanswered: a solution where there
  is one, a certificate from the routes that find them (kkt, conic) or where the parameter values show it. These
  are small, well-posed instances the route the compiler picks ought to answer: 5% (none of the quick run's 15 per
  family, 3 of the long run's 60) leaves room for a rare stall of an iterative solver on the worst-conditioned
  draws (rows scaled over six decades, entries near 1e-9), not for a route that fails a kind of instance outright
  (each kind is at least a fifth of a family's instances). A route the user asks for by ``method=`` may decline
  a model it is not the tool for (``max_iterations``, ``numerical_error``; the long run's table counts those), but
  it may never answer wrongly.

A route's compile costs 1-10 s (the interior point and conic solvers are large XLA programs), so the quick run
draws ``QUICK`` instances per family on its default route (the families' defaults cover all six routes); the long
run draws ``SLOW`` per family on every route that applies and prints the table of counts:
``python -m pytest -n 0 -m slow -s tests/test_reliability.py``.
"""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest
import reliability_families as rf

QUICK = 15
SLOW = 60
MAX_MISSED = 0.05

FAMILIES = {family.name: family for family in rf.families()}


@functools.cache
def _quick(name: str) -> tuple[list[rf.Instance], list[rf.RouteResult]]:
    """The quick instances of a family and their batched solutions on its default route (shared by the tests)."""
    family = FAMILIES[name]
    instances = family.instances(QUICK, seed=0)
    return instances, rf.solve_routes(family, instances, (None,))


def _problems(reports: list[rf.RouteReport]) -> list[str]:
    """What fails a family (see the module docstring), then every instance not answered correctly."""
    problems = []
    for r in reports:
        where = f"{r.family}/{r.route} ({r.method})"
        if r.wrong:
            problems.append(f"{where}: {r.wrong} WRONG answers")
        if r.infeasible_as_inaccurate:
            problems.append(f"{where}: {r.infeasible_as_inaccurate} visibly infeasible instances reported inaccurate")
        if r.route == "default" and r.missed > MAX_MISSED * r.n:
            problems.append(f"{where}: {r.missed} of {r.n} instances unanswered (bound {MAX_MISSED:.0%})")
        if r.unjudged > MAX_MISSED * r.n:
            problems.append(f"{where}: no reference agrees with the construction on {r.unjudged} of {r.n}")
    if problems:
        problems += [failure for r in reports for failure in r.failures]
    return problems


@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_on_its_default_route(name):
    reports = rf.judge(FAMILIES[name], *_quick(name))
    print("\n" + rf.table(reports))
    problems = _problems(reports)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name, compared", [("set_box_simplex", True), ("lp_degenerate", False), ("socp", True)])
def test_vmapped_batch_matches_single_solves(name, compared):
    """The default route's vmapped batch (projected gradient, interior point, conic; instances mixing solved,
    infeasible, unbounded and unsolved) gives each instance's single solve: the same status and objective, and the
    same values where they are unique (not flagged singular). A small QP's batch runs lock-step, whose batched
    kernels round differently: on a face of solutions the two may end at different points of it. ``compared``:
    the family has instances with unique values (every solution of the degenerate LPs is flagged singular)."""
    instances, (result,) = _quick(name)
    batch = result.solutions
    assert len(set(batch.status.tolist())) > 1
    solve = FAMILIES[name].problem.compile()
    unique = 0
    for i, instance in enumerate(instances):
        single = jax.tree_util.tree_map(np.asarray, solve(**instance.params))
        assert int(single.status) == int(batch.status[i]), (i, instance.kind)
        np.testing.assert_allclose(single.objective, batch.objective[i], rtol=1e-8, atol=1e-8)
        if bool(single.singular) or bool(batch.singular[i]):
            continue
        unique += 1
        for key, value in single.values.items():
            np.testing.assert_allclose(value, batch.values[key][i], rtol=1e-7, atol=1e-7, err_msg=f"#{i} {key}")
    assert (unique > len(instances) // 2) == compared, (unique, len(instances))


@pytest.mark.slow
def test_every_family_on_every_route():
    reports = [report for family in FAMILIES.values() for report in rf.run_family(family, SLOW, seed=1)]
    print("\n" + rf.table(reports))
    problems = _problems(reports)
    assert not problems, "\n".join(problems)
