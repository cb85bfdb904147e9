"""cvxpy's own solver tests, run on optdsl: the standard problems of ``cvxpy/tests/solver_test_helpers.py``
(installed with cvxpy) go through ``od.from_cvxpy``'s conversion and ``Problem.solve``, and cvxpy's ``StandardTest*``
functions check the answer as they check any solver -- objective, primal values, duals, complementarity,
dual domains and primal feasibility, each at the helper's own number of places.

Only the solve is replaced (``SolverTestHelper.solve``): it converts the cvxpy problem once, solves it at
its parameters' current values and writes the objective, status, variables and duals back into the cvxpy
objects, in cvxpy's shapes, where the helper reads them (sdp_batched's variable of shape (2, 3, 3) is one
optdsl variable holding its slices, and its ``X >> 0`` one PSD constraint per slice). lp_bound_attr and
qp_bound_attr first ask cvxpy for a bounds-aware solver's data, and lp_7 only runs where SDPA has
multiprecision: their checks are restated here, at the same places. The default run takes one problem per
cone family; ``-m slow`` takes them all.

Not covered: the mixed-integer problems (mi_*: optdsl has no integer variables).
"""

from __future__ import annotations

from typing import Any, Callable
from unittest import mock

import cvxpy as cp
import numpy as np
import pytest
from cvxpy.tests import solver_test_helpers as helpers

from optdsl.interop.cvxpy import _convert_problem

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

#: Each cvxpy problem's conversion, by id (the helper keeps its problem alive for the whole test).
_CONVERTED: dict[int, tuple[Any, Any, Any]] = {}


def _solve_with_optdsl(helper: helpers.SolverTestHelper, solver: Any = None, **ignored: Any) -> None:
    """``helper.prob`` solved by optdsl, its answer written where cvxpy's solve would put it."""
    cvx = helper.prob
    if id(cvx) not in _CONVERTED:
        _CONVERTED[id(cvx)] = cvx, *_convert_problem(cvx)
    problem, conversion = _CONVERTED[id(cvx)][1:]
    problem.solve(conversion.parameter_values())
    for variable in cvx.variables():
        variable.save_value(conversion.value(variable))
    for position, constraint in enumerate(cvx.constraints):
        dual = conversion.dual_value(position, constraint)
        if isinstance(constraint, (cp.constraints.ExpCone, cp.constraints.PowCone3D)):
            for slot, value in zip(constraint.dual_variables, dual):  # optdsl stacks (x, y, z) on a first axis
                slot.save_value(value)
        else:
            constraint.save_dual_value(dual)  # an SOC's rows are (t, x) per cone in both
    cvx._status, cvx._value = problem.status, problem.value


def _standard(test: Callable[..., Any], label: str, default: bool = False) -> Any:
    return pytest.param(test, id=label, marks=() if default else pytest.mark.slow)


def _lp_7(solver: str) -> None:
    helper = helpers.lp_7()
    helper.solve(solver)
    helper.verify_objective(4)


def _with_bounds(build: Callable[[], helpers.SolverTestHelper], duals: bool) -> Callable[[str], None]:
    def test(solver: str) -> None:
        helper = build()
        helper.solve(solver)
        helper.verify_objective(4)
        helper.verify_primal_values(4)
        if duals:
            helper.verify_dual_values(4)

    return test


LPS, QPS, SOCPS = helpers.StandardTestLPs, helpers.StandardTestQPs, helpers.StandardTestSOCPs
SDPS, ECPS, MIXED, PCPS = (helpers.StandardTestSDPs, helpers.StandardTestECPs, helpers.StandardTestMixedCPs,
                           helpers.StandardTestPCPs)
TESTS = [
    *(_standard(getattr(LPS, f"test_lp_{k}"), f"lp_{k}", default=k == 1) for k in range(7)),
    _standard(_lp_7, "lp_7"),
    _standard(_with_bounds(helpers.lp_bound_attr, duals=True), "lp_bound_attr"),
    _standard(QPS.test_qp_0, "qp_0", default=True),
    _standard(QPS.test_qp_parameter_update, "qp_parameter_update"),
    _standard(_with_bounds(helpers.qp_bound_attr, duals=False), "qp_bound_attr"),
    *(_standard(getattr(SOCPS, f"test_socp_{k}"), f"socp_{k}", default=k == 1) for k in (0, 1, 2, "3ax0", "3ax1", 4)),
    _standard(SOCPS.test_socp_bounds_attr, "socp_bounds_attr"),
    _standard(SDPS.test_sdp_1min, "sdp_1min", default=True),
    _standard(SDPS.test_sdp_1max, "sdp_1max"),
    _standard(SDPS.test_sdp_2, "sdp_2"),
    _standard(SDPS.test_sdp_batched, "sdp_batched"),
    _standard(ECPS.test_expcone_1, "expcone_1", default=True),
    _standard(MIXED.test_exp_soc_1, "expcone_socp_1"),
    _standard(MIXED.test_sdp_pcp_1, "sdp_pcp_1"),
    *(_standard(getattr(PCPS, f"test_pcp_{k}"), f"pcp_{k}", default=k == 2) for k in (1, 2, 3)),
]


@pytest.mark.parametrize("test", TESTS)
def test_cvxpys_standard_problem_passes_cvxpys_checks(test):
    with mock.patch.object(helpers.SolverTestHelper, "solve", _solve_with_optdsl):
        try:
            test("OPTDSL")
        finally:
            _CONVERTED.clear()


def test_the_checks_read_what_the_replaced_solve_writes():
    """An answer one off is refused by the same checks: they read what is written into the cvxpy objects."""
    def one_off(helper, solver=None, **ignored):
        for variable, expected in zip(helper.variables, helper.expect_prim_vars):
            variable.save_value(np.asarray(expected, dtype=float) + 1)
        helper.prob._status, helper.prob._value = "optimal", helper.expect_val + 1

    with mock.patch.object(helpers.SolverTestHelper, "solve", one_off), pytest.raises(AssertionError):
        LPS.test_lp_1("OPTDSL")
