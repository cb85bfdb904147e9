"""Seeing what the solver does: ``verbose=True`` iteration logs, the ``SolverWarning`` of an eager unsolved call,
and the compiler's ``logging`` records.

Tiny models; the QP, conic and proximal programs are compiled once per module, and the per-route checks only
lower (trace) programs, which is cheap, to read whether they hold a host callback.
"""

import logging
import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optdsl as od
from optdsl.runtime.status import INFEASIBLE
from optdsl.runtime.solvers.interior_point.qp import POLISH_FROM

x = od.Variable(3, name="x")
c = od.Parameter(3, name="c")
r = od.Parameter(name="r")
C0 = jnp.array([0.3, 0.5, 0.9])

#: min |x - c|^2 over {x >= 0, sum(x) = r}, by the KKT interior point.
SIMPLEX = od.Problem(od.Minimize(od.sum_squares(x - c)), [x >= 0, od.sum(x) == r])
#: A second-order-cone term: the conic route.
SOC = od.Problem(od.Minimize(od.norm2(x - c) + od.sum(x)), [x >= -1])
#: A lasso-like objective: the proximal-gradient route.
LASSO = od.Problem(od.Minimize(od.sum_squares(x - c) + 0.1 * od.norm1(x)))

ITERATION = re.compile(r"^(\w+): iter +(\d+)((?:  \w+ \S+)+)$")
FINAL = re.compile(r"^(\w+): (\w+) after (\d+) iterations, residual (\S+)$")


def _printed(capfd: pytest.CaptureFixture) -> tuple[list[tuple[str, int, str]], list[tuple[str, str, int, float]]]:
    """The iteration lines ``(solver, k, fields)`` and final lines ``(solver, status, iterations, residual)`` printed
    so far."""
    jax.effects_barrier()
    lines = capfd.readouterr().out.splitlines()
    iterations = [(m[1], int(m[2]), m[3]) for m in map(ITERATION.match, lines) if m]
    finals = [(m[1], m[2], int(m[3]), float(m[4])) for m in map(FINAL.match, lines) if m]
    return iterations, finals


@pytest.fixture(scope="module")
def simplex_verbose():
    return SIMPLEX.compile(method="kkt", verbose=True)


@pytest.fixture(scope="module")
def simplex_quiet():
    return SIMPLEX.compile(method="kkt")


def test_qp_prints_each_iteration_and_its_status(simplex_verbose, simplex_quiet, capfd):
    sol = simplex_verbose(c=C0, r=1.0)
    iterations, finals = _printed(capfd)
    n = int(sol.iterations)
    assert sol.status_name() == "solved" and n > 1
    assert [(s, k) for s, k, _ in iterations] == [("qp_interior_point", k) for k in range(1, n + 1)]
    assert all("residual" in fields and "tau" in fields for _, _, fields in iterations)
    # The steps stop where the polish is tried (tol ** POLISH_FROM); the final line gives the polished point's
    # residual, the solution's, below the default float64 tolerance.
    assert float(iterations[-1][2].split()[1]) <= 1e-10 ** POLISH_FROM < float(iterations[0][2].split()[1])
    assert finals == [("qp_interior_point", "solved", n, pytest.approx(float(sol.residual), rel=1e-3))]
    assert finals[0][3] <= 1e-10
    # Printing changes nothing: the quiet program's answer is the same to the last bit, and the projection's.
    quiet = simplex_quiet(c=C0, r=1.0)
    assert _printed(capfd) == ([], [])
    np.testing.assert_array_equal(sol["x"], quiet["x"])
    assert np.all(C0 - (C0.sum() - 1) / 3 > 0)  # every entry stays positive: the projection is a shift
    np.testing.assert_allclose(sol["x"], C0 - (C0.sum() - 1) / 3, atol=1e-9)


def test_conic_interior_point_prints_residual_mu_and_step(capfd):
    sol = SOC.compile(verbose=True)(c=jnp.ones(3))
    iterations, finals = _printed(capfd)
    n = int(sol.iterations)
    assert sol.status_name() == "solved"
    assert [k for _, k, _ in iterations] == list(range(1, n + 1))
    assert {s for s, _, _ in iterations} == {"conic_ip_solve"}
    steps = [float(fields.split()[5]) for _, _, fields in iterations]
    assert all(f.split()[::2] == ["residual", "mu", "step"] for _, _, f in iterations)
    assert all(0 < step <= 1 for step in steps)
    assert [f[:3] for f in finals] == [("conic_ip_solve", "solved", n)]


def test_proximal_gradient_prints_every_50th_iteration(capfd):
    sol = LASSO.compile(verbose=True)(c=jnp.linspace(-1.0, 1.0, 3))
    iterations, finals = _printed(capfd)
    n = int(sol.iterations)
    assert sol.status_name() == "solved"
    assert [k for _, k, _ in iterations] == [1, *range(50, n + 1, 50)]
    assert all(f.split()[::2] == ["residual", "step"] for _, _, f in iterations)
    assert [f[:3] for f in finals] == [("proximal_gradient", "solved", n)]


def test_under_vmap_each_instance_prints_only_its_own_steps(capfd):
    solve = LASSO.compile(verbose=True)
    sols = jax.vmap(lambda c: solve(c=c))(jnp.stack([jnp.zeros(3), jnp.linspace(-1.0, 1.0, 3)]))
    iterations, finals = _printed(capfd)
    counts = [int(k) for k in sols.iterations]
    assert counts[0] == 0 < counts[1]  # c = 0: x = 0 is optimal at the start, the other instance iterates
    assert [k for _, k, _ in iterations] == [1, *range(50, counts[1] + 1, 50)]
    assert sorted(f[:3] for f in finals) == sorted(("proximal_gradient", "solved", k) for k in counts)


ROUTES = {
    "newton": (od.Problem(od.Minimize(od.sum_squares(x - c))), {}),
    "lbfgs": (od.Problem(od.Minimize(od.sum_squares(x - c))), {"solver": "lbfgs"}),
    "newton_cg": (od.Problem(od.Minimize(od.sum_squares(x - c))), {"solver": "newton_cg"}),
    "projected_gradient": (od.Problem(od.Minimize(od.sum_squares(x - c)), [x >= 0]), {}),
    "proximal_gradient": (LASSO, {}),
    "mirror": (od.Problem(od.Minimize(od.sum_squares(x - c)), [x >= 0, od.sum(x) == 1]), {"method": "mirror"}),
    "qp_interior_point": (od.Problem(od.Minimize(od.sum_squares(x - c)), [x >= 0]), {"method": "kkt"}),
    "nlp_interior_point": (od.Problem(od.Minimize(od.sum_squares(x - c)), [od.sum_squares(x) <= 1]),
                           {"method": "kkt"}),
    "conic_ip_solve": (od.Problem(od.Minimize(od.sum_squares(x - c)), [x >= 0]), {"method": "conic"}),
    "conic_solve": (od.Problem(od.Minimize(od.sum_squares(x - c)), [x >= 0]),
                    {"method": "conic", "solver": "hsde_admm"}),
}


@pytest.mark.parametrize("route", ROUTES)
def test_only_a_verbose_program_holds_a_callback(route):
    problem, options = ROUTES[route]

    def lowered(verbose: bool) -> str:
        solve = problem.compile(verbose=verbose, **options)
        return jax.jit(lambda c: solve(c=c).x).lower(jnp.ones(3)).as_text()

    assert "callback" in lowered(True)
    assert "callback" not in lowered(False)


def test_explain_mentions_verbose_only_when_on(simplex_verbose, simplex_quiet):
    assert "verbose" in simplex_verbose.explain()
    assert "verbose" not in simplex_quiet.explain()


def test_eager_infeasible_solve_warns(simplex_quiet):
    with pytest.warns(od.SolverWarning, match=r"status 'infeasible'.*check the data"):
        sol = simplex_quiet(c=C0, r=-1.0)
    assert int(sol.status) == INFEASIBLE


def test_eager_solve_at_the_iteration_limit_warns_to_raise_maxiter_and_a_jitted_one_does_not():
    solve = LASSO.compile(maxiter=2)
    with pytest.warns(od.SolverWarning, match=r"status 'max_iterations' after 2 iterations.*raise maxiter") as caught:
        sol = solve(c=jnp.ones(3))
    assert sol.status_name() == "max_iterations"
    assert [w.filename for w in caught] == [__file__]  # the warning points at the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error", od.SolverWarning)
        status = jax.jit(lambda c: solve(c=c).status)(jnp.ones(3))
        statuses = jax.vmap(lambda c: solve(c=c).status)(jnp.ones((2, 3)))
    assert int(status) == int(sol.status) and np.all(statuses == sol.status)


def test_an_objective_unbounded_only_in_the_limit_is_said_to_be_so():
    x = od.Variable(name="x")
    solve = od.Problem(od.Maximize(od.log(x))).compile()
    with pytest.warns(od.SolverWarning, match=r"very large \(largest entry .*: the objective may be unbounded") as w:
        sol = solve()
    assert sol.status_name() != "solved" and float(sol["x"]) > 1e10
    assert len(w) == 1


def test_the_compiler_logs_its_route_and_why(caplog):
    with caplog.at_level(logging.DEBUG, logger="optdsl"):
        lasso = LASSO.compile()
        soc = SOC.compile()
    records = [rec for rec in caplog.records if rec.name == "optdsl.compiler"]
    routes = [rec.getMessage() for rec in records if rec.levelno == logging.INFO]
    reason = "smooth part plus non-smooth terms with a known proximal operator"
    assert routes[0] == f"method proximal_gradient (solver fista): {reason}" and reason in lasso.explain()
    assert routes[1].startswith("method conic (solver interior_point): no projection or proximal operator covers")
    debug = [rec.getMessage() for rec in records if rec.levelno == logging.DEBUG]
    assert any(m.startswith("conic form: 4 variables, 7 cone rows (Cones(zero=0, nonneg=3, soc=(4,)") for m in debug)
    assert any(m.startswith("differentiation: implicit") and "LU-factorised" in m for m in debug)
    assert soc.method == "conic"
