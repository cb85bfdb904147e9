"""Derivatives on cvxpy's standard conic test problems, with respect to all their data: finite, and right.

The problems are those of ``cvxpy/tests/solver_test_helpers.py`` (installed with cvxpy): lp_0
to lp_7, lp_bound_attr, qp_0, qp_bound_attr, the QP of ``test_qp_parameter_update``, socp_0 to
socp_4 (socp_3 on both axes), socp_bounds_attr, sdp_1 (min and max), sdp_2, expcone_1,
expcone_socp_1, pcp_1 to pcp_3, and the infeasible LPs, SOC, exponential-cone, PSD and mixed
problems of ``StandardTestInfeasibleProblems``. Each has its numeric constants (variable bounds included)
turned into cvxpy Parameters holding the same values, goes through ``od.from_cvxpy`` and
compiles at default settings. Then:

* the status is the one cvxpy's helpers expect (solved, infeasible or unbounded);
* a solved instance matches cvxpy + Clarabel: the objective always, the variables where the
  solution is unique;
* ``jax.jacrev`` of the variables and the objective with respect to every parameter is finite
  (also for infeasible and unbounded instances), and so is ``jax.jacfwd`` on a few, equal to it;
* ``Solution.singular`` is set exactly on the solved instances whose solution or duals are not
  unique (:data:`NOT_UNIQUE`; lp_7 aside, differentiated matrix-free), and elsewhere the
  derivative matches central differences of the optdsl solve (float64) in random directions of
  all the parameters at once.

The power-cone problems also match the values their helpers expect (objective, variables and
duals), solved as cvxpy states them.

The default run takes the cases in :data:`DEFAULT` (one per cone and route); ``pytest -m slow`` takes every one.

Not differentiated here: the mixed-integer problems (mi_lp_*, mi_socp_*, mi_pcp_0: optdsl has no
integer variables), sdp_pcp_1 (its solution and duals are checked by
``tests/test_cvxpy_standard_problems.py``), the power-cone infeasible problems, and sdp_batched (a
variable of shape (2, 3, 3); optdsl's variables have at most two axes).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple
from unittest import mock

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cvxpy.tests import solver_test_helpers as helpers

import optdsl as od
from optdsl.runtime.status import INFEASIBLE, SOLVED, UNBOUNDED, describe

CLARABEL = dict(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12, max_iter=500)
#: Central-difference step and agreement (relative to max(1, |difference|)): the solves are accurate to ~1e-11.
H, FD_TOL = 1e-6, 1e-5
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


class _Built(Exception):
    """Raised in place of ``cvxpy.Problem.solve`` to take the problem a cvxpy test builds."""

    def __init__(self, problem: cp.Problem):
        super().__init__("captured")
        self.problem = problem


def built_by(test: Callable[[str], Any]) -> cp.Problem:
    """The problem one of cvxpy's standard tests builds: its first ``solve`` is stopped and the problem kept."""
    def stop(problem: cp.Problem, *args: Any, **kwargs: Any) -> None:
        raise _Built(problem)

    with mock.patch.object(cp.Problem, "solve", stop), pytest.raises(_Built) as built:
        test("CLARABEL")
    return built.value.problem


def with_parameters(problem: cp.Problem) -> cp.Problem:
    """The same problem with every numeric constant, and every finite variable bound, a Parameter of that value."""
    made: dict[int, Any] = {}

    def parameter(value: Any) -> cp.Parameter:
        """A parameter of this value, of its sign where every entry is non-zero (the DCP rules may need it)."""
        value = value.toarray() if hasattr(value, "toarray") else np.asarray(value, dtype=float)
        sign = {"nonneg": bool(np.all(value > 0)), "nonpos": bool(np.all(value < 0))}
        return cp.Parameter(value.shape, name=f"data{len(made)}", value=value, **sign)

    def rebuild(node: Any) -> Any:
        key = id(node)
        if key not in made:
            if isinstance(node, cp.Constant):
                made[key] = parameter(node.value)
            elif isinstance(node, cp.Variable) and node.attributes["bounds"] is not None:
                attributes = {k: v for k, v in node.attributes.items() if v is not None and v is not False}
                bounds = [np.asarray(b, dtype=float) for b in attributes.pop("bounds")]
                if all(np.isfinite(b).all() for b in bounds):
                    bounds = [parameter(np.broadcast_to(b, node.shape)) for b in bounds]
                made[key] = cp.Variable(node.shape, name=node.name(), bounds=bounds, **attributes)
            else:
                made[key] = node.copy([rebuild(a) for a in node.args]) if node.args else node
        return made[key]

    objective = type(problem.objective)(rebuild(problem.objective.args[0]))
    return cp.Problem(objective, [c.copy([rebuild(a) for a in c.args]) for c in problem.constraints])


def _expected(helper: helpers.SolverTestHelper) -> int:
    """The status cvxpy's helper expects, from its expected objective value (+-inf: no solution)."""
    value, minimise = helper.expect_val, isinstance(helper.prob.objective, cp.Minimize)
    if value is not None and np.isinf(value):
        return INFEASIBLE if (value > 0) == minimise else UNBOUNDED
    return SOLVED


#: The cases of the default run: one per cone and route, a flagged non-unique one, two infeasible ones. Each
#: compiles a whole differentiated program; the others run with ``-m slow``.
DEFAULT = {"lp_0", "lp_1", "qp_0", "socp_1", "sdp_1_min", "expcone_1", "pcp_2",
           "infeasible_lp_eq_constraints", "infeasible_soc"}


def _case(label: str, problem: cp.Problem, expected: int) -> Any:
    return pytest.param((label, problem, expected), id=label, marks=() if label in DEFAULT else pytest.mark.slow)


def _standard(name: str, *args: Any) -> Any:
    helper = getattr(helpers, name)(*args)
    return _case(name + "".join(f"_{a}" for a in args), helper.prob, _expected(helper))


def _built(label: str, test: Callable[[str], Any], expected: int) -> Any:
    return _case(label, built_by(test), expected)


#: cvxpy's power-cone problems (PowCone3D constraints).
POWER_CONE = ("pcp_1", "pcp_2", "pcp_3")
CASES = [
    *(_standard(name) for name in ("lp_0", "lp_1", "lp_2", "lp_3", "lp_4", "lp_5", "lp_6", "lp_7", "lp_bound_attr",
                                   "qp_0", "qp_bound_attr")),
    _built("qp_parameter_update", helpers.StandardTestQPs.test_qp_parameter_update, SOLVED),
    *(_standard(name) for name in ("socp_0", "socp_1", "socp_2")),
    _standard("socp_3", 0), _standard("socp_3", 1), _standard("socp_4"), _standard("socp_bounds_attr"),
    _standard("sdp_1", "min"), _standard("sdp_1", "max"), _standard("sdp_2"),
    _standard("expcone_1"), _standard("expcone_socp_1"),
    *(_standard(name) for name in POWER_CONE),
    *(_built(f"infeasible_{kind}", getattr(helpers.StandardTestInfeasibleProblems, f"test_{kind}"), INFEASIBLE)
      for kind in ("lp_ineq_constraints", "lp_eq_constraints", "soc", "exp_cone", "psd_cone", "soc_exp_mixed")),
]
#: Solved instances whose solution is not unique: compared with Clarabel on the objective only.
SOLUTION_NOT_UNIQUE = {
    "lp_5": "its objective is constant on a face of dimension two (and two equality rows combine the others)",
    "lp_7": "the ill-posed LP: a whole polyhedron of solutions",
    "sdp_1_min": "the optimal face is not a point: rho[0, 2] takes any value in [0.8, 0.9] there",
    "sdp_1_max": "the optimal face is not a point (optdsl and Clarabel return different rho)",
}
#: Solved instances with a unique solution whose duals are not unique.
DUALS_NOT_UNIQUE = {
    "lp_0": "x == 0 pins x at the kink of norm1(x): the split of the multipliers is free",
    "socp_0": "x == 0 pins x at the apex of norm2(x): the split of the multipliers is free",
    "lp_bound_attr": "1 <= x[1] <= 1: two active bounds share one multiplier",
}
NOT_UNIQUE = SOLUTION_NOT_UNIQUE | DUALS_NOT_UNIQUE
#: Cases whose program also takes ``jax.jacfwd`` (a kkt-route LP and a conic SDP).
FORWARD = {"lp_1", "sdp_2"}


class Case(NamedTuple):
    """A converted problem, its parameter values, and one jitted program: outputs, Jacobians, status, flag."""

    label: str
    cvx: cp.Problem
    expected: int
    params: dict[str, jax.Array]
    names: list[str]  # the variables, in the order of the outputs
    run: Callable
    out: np.ndarray
    reverse: dict[str, np.ndarray]
    forward: dict[str, np.ndarray] | None
    status: int
    singular: bool


def outputs(solution: od.Solution, names: list[str]) -> jax.Array:
    """Every variable (raveled, in ``names`` order) and the objective, as one vector."""
    return jnp.concatenate([*(jnp.ravel(solution[n]) for n in names), jnp.ravel(solution.objective)])


def prepare(label: str, cvx: cp.Problem, expected: int) -> Case:
    """Convert and compile; solve and differentiate at the problem's own values (one jitted program)."""
    problem, values = od.from_cvxpy(with_parameters(cvx))
    solve = problem.compile()
    names = [v.name for v in problem.variables()]
    params = {k: jnp.asarray(v, jnp.float64) for k, v in values.items()}
    forward = label in FORWARD

    def value(params):
        sol = solve(params)
        out = outputs(sol, names)
        return out, (out, sol.status, sol.singular)

    @jax.jit
    def run(params):
        reverse, (out, status, singular) = jax.jacrev(value, has_aux=True)(params)
        return out, reverse, jax.jacfwd(lambda p: value(p)[0])(params) if forward else None, status, singular

    out, reverse, fwd, status, singular = run(params)
    return Case(label, cvx, expected, params, names, run, np.asarray(out), reverse, fwd, int(status), bool(singular))


@pytest.fixture(scope="module", params=[c for c in CASES if c.values[0][2] == SOLVED])
def case(request) -> Case:
    return prepare(*request.param)


@pytest.fixture(scope="module", params=[c for c in CASES if c.values[0][2] != SOLVED])
def unsolved(request) -> Case:
    return prepare(*request.param)


def check_finite(case: Case) -> None:
    for name, jacobian in case.reverse.items():
        assert np.isfinite(jacobian).all(), f"jacrev w.r.t. {name} is not finite"
    if case.forward is not None:
        for name, jacobian in case.forward.items():
            np.testing.assert_allclose(jacobian, case.reverse[name], atol=1e-9, err_msg=name)


def test_infeasible_and_unbounded_ones_say_so_with_finite_derivatives(unsolved):
    assert unsolved.status == unsolved.expected, describe(unsolved.status)
    check_finite(unsolved)


def test_solution_matches_cvxpy_with_clarabel(case):
    assert case.status == SOLVED, describe(case.status)
    case.cvx.solve(**CLARABEL)
    assert case.cvx.status in ("optimal", "optimal_inaccurate")
    np.testing.assert_allclose(case.out[-1], case.cvx.value, rtol=1e-6, atol=1e-6)
    if case.label not in SOLUTION_NOT_UNIQUE:
        found = {v.name(): np.ravel(v.value) for v in case.cvx.variables()}
        reference = np.concatenate([found[name] for name in case.names])
        np.testing.assert_allclose(case.out[:-1], reference, rtol=1e-5, atol=1e-5)


def test_every_derivative_is_finite(case):
    check_finite(case)


def test_flagged_where_not_unique_and_central_differences_elsewhere(case):
    assert case.singular == (case.label in NOT_UNIQUE), NOT_UNIQUE.get(case.label)
    if case.label in NOT_UNIQUE:
        return
    rng = np.random.default_rng(0)
    for _ in range(2):
        direction = {k: rng.normal(size=np.shape(v)) for k, v in case.params.items()}
        shifted = [case.run({k: v + sign * H * direction[k] for k, v in case.params.items()})[0] for sign in (1, -1)]
        fd = (np.asarray(shifted[0]) - np.asarray(shifted[1])) / (2 * H)
        analytic = sum(np.tensordot(np.asarray(case.reverse[k]), d, axes=d.ndim) for k, d in direction.items())
        assert np.abs(analytic - fd).max() <= FD_TOL * max(1.0, np.abs(fd).max()), (analytic, fd)


@pytest.mark.parametrize("name", POWER_CONE)
def test_power_cone_problems_match_the_helpers_expected_values(name):
    """As cvxpy's own test_pcp_* check a solver: objective, variables and duals to 3 places."""
    helper = getattr(helpers, name)()
    problem, values = od.from_cvxpy(helper.prob)
    sol = problem.compile()(**values)
    assert sol.status == SOLVED, describe(sol.status)
    np.testing.assert_allclose(sol.objective, helper.expect_val, atol=1e-3)
    for variable, expected in zip(helper.variables, helper.expect_prim_vars):
        if expected is not None:
            np.testing.assert_allclose(np.ravel(sol[variable.name()]), np.ravel(expected), atol=1e-3)
    for ours, expected in zip(problem.constraints, helper.expect_dual_vars):
        if expected is not None:
            found = sol.dual(ours)
            np.testing.assert_allclose(np.ravel(found), np.ravel(np.asarray(expected, dtype=float)), atol=1e-3)
