"""Routing: a model whose objective is finite only on part of its domain never goes to a first-order map.

Textbook models with such atoms (log_det, entropy, inv_pos, log), each solved by the default route and
checked against its closed form (or cvxpy + Clarabel), with the gradient of a scalar function of the
solution against central finite differences; ``explain()`` gives the reason for the choice; a requested
first-order method that cannot keep its trial points in the domain is a ``CompileError``.
"""

from __future__ import annotations

import functools

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optdsl as od
from optdsl.errors import CompileError

#: Central finite-difference steps: of a closed form, and of a solver (solved to 1e-10, so a step of 1e-6 would
#: amplify its error to 1e-4).
EXACT_STEP, SOLVER_STEP = 1e-6, 1e-4


def central_difference(fun, point: np.ndarray, direction: np.ndarray, step: float = EXACT_STEP) -> float:
    return (fun(point + step * direction) - fun(point - step * direction)) / (2 * step)


def route_line(solve: od.CompiledProblem) -> str:
    return next(line for line in solve.description.splitlines() if line.startswith("route:"))


# ---- the models, compiled once -----------------------------------------------------------------------------------

X = od.Variable((3, 3), name="X")
S = od.Parameter((3, 3), name="S")
S0 = np.eye(3) + 0.1


@functools.cache
def log_det_model(psd: bool) -> od.CompiledProblem:
    """maximize log det X - tr(S X) (no X == X'): X = inv(S) for a symmetric positive definite S."""
    return od.Problem(od.Maximize(od.log_det(X) - od.trace(S @ X)), [X >> 0] if psd else []).compile()


p = od.Variable(6, name="p")
c = od.Parameter(6, name="c")


@functools.cache
def entropy_simplex() -> od.CompiledProblem:
    """maximize sum entropy(p) + c'p on the simplex: p = softmax(c)."""
    return od.Problem(od.Maximize(od.sum(od.entropy(p)) + c @ p), [p >= 0, od.sum(p) == 1]).compile()


F = od.Parameter((2, 6), name="F")
g = od.Parameter(2, name="g")
F0 = np.random.default_rng(3).uniform(-1.0, 1.0, (2, 6))
G0 = F0 @ np.random.default_rng(4).dirichlet(np.ones(6))


@functools.cache
def entropy_moments() -> od.CompiledProblem:
    """maximize sum entropy(p) subject to F p == g, sum(p) == 1."""
    return od.Problem(od.Maximize(od.sum(od.entropy(p))), [F @ p == g, od.sum(p) == 1]).compile()


x = od.Variable(name="x")
a = od.Parameter(name="a", nonneg=True)


@functools.cache
def inv_pos_model() -> od.CompiledProblem:
    """minimize 1/x + a x: x = 1/sqrt(a)."""
    return od.Problem(od.Minimize(od.inv_pos(x) + a * x)).compile()


y = od.Variable(4, name="y")
w = od.Parameter(4, name="w", nonneg=True)
budget = od.Parameter(name="budget")
W0 = np.array([1.0, 2.0, 3.0, 4.0])


@functools.cache
def log_budget() -> od.CompiledProblem:
    """maximize w' log(y) subject to sum(y) == budget (a set with a projection): y = w budget / sum(w)."""
    return od.Problem(od.Maximize(w @ od.log(y)), [od.sum(y) == budget]).compile()


def softmax(v: np.ndarray) -> np.ndarray:
    e = np.exp(v - v.max())
    return e / e.sum()


# ---- log_det ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("psd", [False, True])
def test_log_det_is_solved_by_default_with_inverse_and_gradients(psd):
    solve = log_det_model(psd)
    assert solve.method == "conic"
    sol = solve(S=S0)
    assert sol.status_name() == "solved"
    np.testing.assert_allclose(sol["X"], np.linalg.inv(S0), atol=1e-8)
    weights = np.arange(9.0).reshape(3, 3)
    loss = lambda s: jnp.sum(weights * solve(S=s)["X"])  # noqa: E731
    exact = lambda s: float(np.sum(weights * np.linalg.inv((s + s.T) / 2)))  # noqa: E731
    gradient = np.asarray(jax.grad(loss)(jnp.asarray(S0)))
    for direction in (np.random.default_rng(0).normal(size=(3, 3)), np.eye(3)):  # non-symmetric: read as (S + S')/2
        expected = central_difference(exact, S0, direction)
        np.testing.assert_allclose(central_difference(lambda s: float(loss(s)), S0, direction, SOLVER_STEP), expected,
                                   rtol=1e-6)
        np.testing.assert_allclose(np.vdot(gradient, direction), expected, rtol=1e-6)


def test_log_det_explains_the_conic_route():
    assert route_line(log_det_model(False)) == (
        "route: conic — the objective's log_det is finite only on part of its domain, which a first-order step "
        "can leave")


# ---- maximum entropy ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [0.0, 1.0, 6.0])  # 6: entries of p down to ~1e-9, near the domain's boundary
def test_entropy_on_the_simplex_goes_to_mirror_and_gives_softmax(scale):
    solve = entropy_simplex()
    assert solve.method == "mirror"
    c0 = scale * np.random.default_rng(1).normal(size=6)
    sol = solve(c=c0)
    assert sol.status_name() == "solved"
    np.testing.assert_allclose(sol["p"], softmax(c0), rtol=1e-7, atol=1e-12)
    weights = np.random.default_rng(2).normal(size=6)
    loss = lambda v: jnp.dot(weights, solve(c=v)["p"])  # noqa: E731
    direction = np.random.default_rng(5).normal(size=6)
    expected = central_difference(lambda v: float(weights @ softmax(v)), c0, direction)
    np.testing.assert_allclose(central_difference(lambda v: float(loss(v)), c0, direction, SOLVER_STEP), expected,
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.vdot(jax.grad(loss)(jnp.asarray(c0)), direction), expected, rtol=1e-6, atol=1e-10)


def test_entropy_on_the_simplex_explains_the_mirror_route():
    assert route_line(entropy_simplex()) == (
        "route: mirror — the objective's entropy is finite only on part of its domain, which a first-order step "
        "can leave; every variable lies on a simplex, whose interior mirror descent keeps")


def test_entropy_with_moments_goes_to_conic_and_matches_clarabel():
    solve = entropy_moments()
    assert solve.method == "conic"
    sol = solve(F=F0, g=G0)
    assert sol.status_name() == "solved"
    pc = cp.Variable(6)
    cp.Problem(cp.Maximize(cp.sum(cp.entr(pc))), [F0 @ pc == G0, cp.sum(pc) == 1]).solve(
        solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    np.testing.assert_allclose(sol["p"], pc.value, atol=1e-7)
    loss = lambda v: solve(F=F0, g=v)["p"][0]  # noqa: E731
    direction = np.array([0.3, -0.2])
    np.testing.assert_allclose(np.vdot(jax.grad(loss)(jnp.asarray(G0)), direction),
                               central_difference(lambda v: float(loss(v)), G0, direction, SOLVER_STEP), rtol=1e-5)


# ---- one-dimensional and budget models ----------------------------------------------------------------------------

def test_inv_pos_plus_linear_is_solved_by_default():
    solve = inv_pos_model()
    assert solve.method == "conic"
    sol = solve(a=4.0)
    assert sol.status_name() == "solved"
    np.testing.assert_allclose(sol["x"], 0.5, atol=1e-8)
    np.testing.assert_allclose(jax.grad(lambda v: solve(a=v)["x"])(4.0), -0.5 * 4.0 ** -1.5, rtol=1e-6)


def test_log_utility_under_a_budget_is_solved_by_default():
    solve = log_budget()
    assert solve.method == "conic"
    sol = solve(w=W0, budget=2.0)
    assert sol.status_name() == "solved"
    closed = lambda v: v * 2.0 / v.sum()  # noqa: E731
    np.testing.assert_allclose(sol["y"], closed(W0), atol=1e-8)
    loss = lambda v: solve(w=v, budget=2.0)["y"][1]  # noqa: E731
    direction = np.array([0.2, -0.4, 0.1, 0.3])
    np.testing.assert_allclose(np.vdot(jax.grad(loss)(jnp.asarray(W0)), direction),
                               central_difference(lambda v: float(closed(v)[1]), W0, direction), rtol=1e-6)


# ---- what is not moved, and what is refused -----------------------------------------------------------------------

def test_first_order_routes_keep_their_reasons():
    q = od.Parameter(4, name="q", nonneg=True)
    z = od.Variable(4, name="z")
    unconstrained = od.Problem(od.Minimize(od.sum_squares(z - od.log(q)))).compile()  # log of a parameter only
    assert route_line(unconstrained) == "route: stationary — smooth objective, no constraints"
    box = od.Problem(od.Minimize(od.sum_squares(z - q)), [z >= 0, z <= 1]).compile()
    assert route_line(box) == ("route: projected_gradient — smooth objective, every constraint is a set with a "
                               "known projection")


@pytest.mark.parametrize(("build", "method", "atom", "default"), [
    (lambda: od.Problem(od.Maximize(od.log_det(X) - od.trace(S @ X))), "stationary", "log_det", "conic"),
    (lambda: od.Problem(od.Maximize(od.log_det(X) - od.trace(S @ X)), [X >> 0]), "projected_gradient", "log_det",
     "conic"),
    (lambda: od.Problem(od.Maximize(od.sum(od.entropy(p))), [p >= 0, od.sum(p) == 1]), "projected_gradient",
     "entropy", "mirror"),
    (lambda: od.Problem(od.Maximize(od.sum(od.entropy(p))), [p >= 0, od.sum(p) == 1]), "proximal_gradient",
     "entropy", "mirror"),
    (lambda: od.Problem(od.Minimize(od.inv_pos(x) + a * x)), "stationary", "inv_pos", "conic"),
])
def test_a_first_order_method_that_can_leave_the_domain_is_refused(build, method, atom, default):
    with pytest.raises(CompileError, match=rf"method='{method}' does not apply: the objective's {atom} is finite "
                                           rf"only on part of its domain.*use method='{default}'"):
        build().compile(method=method)


def test_restricted_nodes_are_the_atoms_that_see_a_variable():
    z = od.Variable(3, name="z")
    q = od.Parameter(3, name="q", nonneg=True)
    expr = od.sum(od.log(z)) + od.sum(od.log(q)) + od.sum(z ** 2) + od.sum(z ** 1.5) + od.sum(od.exp(z))
    assert [str(node) for node in expr.restricted_nodes()] == ["log(z)", "z ** 1.5"]


class _PowerWithoutGraphForm(od.modeling.atoms.Power):
    """``power`` as an atom the conic lowering does not cover."""

    def graph_form(self, t, args):
        return None


def test_a_model_without_conic_form_goes_to_the_interior_point_and_says_why():
    z = od.Variable(3, name="z")
    q = od.Parameter(3, name="q", nonneg=True)
    solve = od.Problem(od.Minimize(od.sum(_PowerWithoutGraphForm(z, 1.5)) - q @ z), [z >= 0]).compile()
    assert solve.method == "kkt"
    assert route_line(solve).startswith("route: kkt — the objective's power is finite only on part of its domain, "
                                        "which a first-order step can leave, and the model has no conic form (the "
                                        "conic lowering cannot handle z ** 1.5: the atom power has no graph form")


def test_the_interior_point_starts_inside_the_objectives_domain():
    """method='kkt' on log_det and entropy objectives: z = 0 is on their domain's boundary, so the cold start
    moves to ones (the identity for a square matrix), and the solve reaches the closed form."""
    solve = od.Problem(od.Maximize(od.log_det(X) - od.trace(S @ X))).compile(method="kkt")
    np.testing.assert_allclose(solve(S=S0)["X"], np.linalg.inv(S0), atol=1e-8)
    c0 = np.linspace(-0.5, 0.5, 6)
    q = od.Variable(6, name="q")
    sol = od.Problem(od.Maximize(od.sum(od.entropy(q)) + c @ q), [q >= 0, od.sum(q) == 1]).compile(method="kkt")(c=c0)
    assert sol.status_name() == "solved"
    np.testing.assert_allclose(sol["q"], np.exp(c0) / np.exp(c0).sum(), atol=1e-8)
