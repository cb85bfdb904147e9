"""The cvxpy atoms a cvxpy user reaches for first, against cvxpy + Clarabel.

* every atom and structural function evaluates as cvxpy's on 20 seeded random instances
  (one jit, vmapped over the instances), through ``from_cvxpy`` and ``to_cvxpy`` too;
* the curvature rules refuse what cvxpy's DCP rules refuse;
* a small model using each solves to cvxpy's objective, primal and duals on 20 instances; the
  models are blocks of a few problems, each compiled once with parameters (the structural QP,
  which the router sends to ``kkt``, is solved by ``method="conic"`` too);
* the derivative of each model's solution along a random direction of all its parameters
  matches central differences, and every model writes to ``.opt`` and reads back equal.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass, field

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optdsl as od
from optdsl.runtime.compiled import CompiledProblem

CLARABEL = {"solver": "CLARABEL", "tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}
INSTANCES = 20
TOL = 1e-5
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore:.*DPP.*", "ignore:.*not DPP.*")


def _sym(r: np.random.Generator, n: int, scale: float = 1.0) -> np.ndarray:
    M = r.normal(size=(n, n))
    return scale * (M + M.T) / 2


def _with_singular_values(r: np.random.Generator, shape: tuple[int, int], low: float, high: float) -> np.ndarray:
    """A random matrix whose singular values are drawn from [low, high] (well separated from each other)."""
    m, n = shape
    U, _ = np.linalg.qr(r.normal(size=(m, m)))
    V, _ = np.linalg.qr(r.normal(size=(n, n)))
    k = min(m, n)
    s = np.sort(np.linspace(low, high, k) + r.uniform(-0.1, 0.1, k) * (high - low) / k)[::-1]
    return U[:, :k] @ np.diag(s) @ V[:, :k].T


# --------------------------------------------------------------------------------------------- atom values

LEAVES = {"x": (6,), "p": (6,), "q": (6,), "X": (3, 4), "S": (4, 4)}
A_KRON = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])


def _leaf_values(r: np.random.Generator) -> dict[str, np.ndarray]:
    return {"x": r.normal(size=6), "p": r.uniform(0.2, 2.0, 6), "q": r.uniform(0.2, 2.0, 6),
            "X": r.normal(size=(3, 4)), "S": _sym(r, 4)}


def _atoms(m, v) -> list:
    """The same expressions in optdsl (``m = od``) or cvxpy (``m = cp``) over the leaves ``v``."""
    x, p, q, X, S = (v[k] for k in LEAVES)
    inf = np.inf
    return [
        m.diff(x), m.diff(X, 2, axis=1), m.diff(X, axis=0), m.vec(X, order="F"), m.vec(X, order="C"),
        m.kron(A_KRON, X), m.kron(X, A_KRON), m.bmat([[S, X.T], [X, np.eye(3)]]), m.outer(x, p), m.upper_tri(S),
        m.sum_largest(x, 2), m.sum_largest(x, 2.5), m.sum_largest(x, 9), m.sum_largest(X, 2, axis=0),
        m.sum_largest(X, 1.5, axis=1, keepdims=True), m.sum_smallest(x, 3), m.sum_smallest(X, 2, axis=1),
        m.sigma_max(X), m.norm(X, 2), m.normNuc(X), m.norm(X, "nuc"), m.norm(X, 1), m.norm(X, inf),
        m.norm(X[:, :1], 2), m.lambda_min(S), m.lambda_sum_largest(S, 2), m.lambda_sum_largest(S, 2.5),
        m.lambda_sum_smallest(S, 3), m.lambda_sum_smallest(S, 1.5), m.prod(p), m.prod(X, axis=0),
        m.prod(X, axis=1, keepdims=True), m.entr(p), m.harmonic_mean(p), m.inv_pos(p), m.kl_div(p, q),
        m.rel_entr(p, q), m.trace(S),
    ]


@functools.cache
def _atom_values() -> tuple[list, list[np.ndarray], list[dict]]:
    """Each cvxpy expression, its optdsl twin's values on all instances (one vmapped jit), and the instances."""
    leaves = {name: od.Variable(shape, name=name) for name, shape in LEAVES.items()}
    ours = _atoms(od, leaves)
    instances = [_leaf_values(np.random.default_rng(seed)) for seed in range(INSTANCES)]
    stacked = {k: np.stack([i[k] for i in instances]) for k in LEAVES}
    values = jax.jit(jax.vmap(lambda v: [e.evaluate(v) for e in ours]))(stacked)
    return ours, [np.asarray(v) for v in values], instances


def test_atoms_evaluate_like_cvxpy():
    ours, values, instances = _atom_values()
    parameters = {name: cp.Parameter(shape, name=name) for name, shape in LEAVES.items()}
    theirs = _atoms(cp, parameters)
    for k, instance in enumerate(instances):
        for name, value in instance.items():
            parameters[name].value = value
        for expression, mine, reference in zip(ours, values, theirs):
            assert mine[k].shape == reference.shape, str(expression)
            expected = np.reshape(reference.value, reference.shape)  # cvxpy's upper_tri value drops its column axis
            np.testing.assert_allclose(mine[k], expected, rtol=1e-10, atol=1e-10, err_msg=f"{expression} #{k}")


def test_atoms_curvature_and_sign_are_cvxpys():
    ours, _, _ = _atom_values()
    theirs = _atoms(cp, {name: cp.Variable(shape, name=name) for name, shape in LEAVES.items()})
    curvature = {"AFFINE": "affine", "CONVEX": "convex", "CONCAVE": "concave", "UNKNOWN": "unknown"}
    sign = {"NONNEGATIVE": "nonneg", "NONPOSITIVE": "nonpos", "UNKNOWN": "unknown"}
    for mine, reference in zip(ours, theirs):
        assert mine.curvature.value == curvature[reference.curvature], str(mine)
        assert mine.sign.value == sign[reference.sign], str(mine)


def test_from_cvxpy_and_to_cvxpy_map_every_atom():
    _, values, instances = _atom_values()
    variables = {name: cp.Variable(shape, name=name) for name, shape in LEAVES.items()}
    expressions = _atoms(cp, variables)
    problem, _ = od.from_cvxpy(cp.Problem(cp.Minimize(0), [e == 0 for e in expressions]))
    converted = [c.lhs for c in problem.constraints]
    for k in (0, 1):
        for mine, expected in zip(converted, values):
            np.testing.assert_allclose(mine.evaluate(instances[k]), expected[k], rtol=1e-10, atol=1e-10,
                                       err_msg=str(mine))
    back = problem.to_cvxpy()
    for name, value in instances[2].items():
        back.var_dict[name].value = value
    for constraint, expected in zip(back.constraints, values):
        lhs = constraint.args[0]
        np.testing.assert_allclose(np.reshape(lhs.value, lhs.shape), expected[2], rtol=1e-10, atol=1e-10,
                                   err_msg=str(lhs))


# --------------------------------------------------------------------------------------------- DCP refusals


def _objectives(m, v) -> list:
    """Objectives (sense, expression) over the leaves ``v``; cvxpy's DCP verdict on each is the reference."""
    x, p, P, X, S = v["x"], v["p"], v["P"], v["X"], v["S"]
    return [
        (m.Minimize, m.prod(x)), (m.Minimize, m.prod(p) + m.sum_largest(x, 2)), (m.Maximize, m.sum_largest(x, 2)),
        (m.Minimize, m.sum_smallest(x, 2)), (m.Maximize, m.sum_smallest(x, 2)), (m.Maximize, m.sigma_max(X)),
        (m.Minimize, m.norm(X, 2)), (m.Maximize, m.normNuc(X)), (m.Minimize, m.lambda_min(S)),
        (m.Maximize, m.lambda_min(S)), (m.Maximize, m.lambda_sum_largest(S, 2)),
        (m.Minimize, m.lambda_sum_smallest(S, 2)), (m.Minimize, m.harmonic_mean(x)),
        (m.Maximize, m.harmonic_mean(x)), (m.Minimize, m.sum(m.entr(x))), (m.Minimize, m.sum(m.outer(x, x))),
        (m.Minimize, m.sum_largest(m.diff(x), 2)), (m.Minimize, m.sum(m.kron(S, P))),
        (m.Minimize, m.sigma_max(m.bmat([[S, S], [S, S]]))), (m.Minimize, m.sum_largest(m.upper_tri(S), 1)),
        (m.Minimize, m.sum_largest(-m.vec(X, order="F"), 2)), (m.Minimize, m.normNuc(m.outer(x, p))),
    ]


def test_dcp_refuses_what_cvxpy_refuses():
    ours = _objectives(od, {"x": od.Variable(6, name="x"), "p": od.Parameter(6, name="p"),
                            "P": od.Parameter((2, 2), name="P"), "X": od.Variable((3, 4), name="X"),
                            "S": od.Variable((4, 4), name="S")})
    theirs = _objectives(cp, {"x": cp.Variable(6), "p": cp.Parameter(6), "P": cp.Parameter((2, 2)),
                              "X": cp.Variable((3, 4)), "S": cp.Variable((4, 4))})
    verdicts = []
    for (sense, mine), (their_sense, reference) in zip(ours, theirs):
        expected = cp.Problem(their_sense(reference)).is_dcp()
        assert od.Problem(sense(mine)).is_dcp() == expected, str(mine)
        verdicts.append(expected)
    assert 0 < sum(verdicts) < len(verdicts)


def test_products_of_two_variables_are_refused():
    x, y, X = od.Variable(3, name="x"), od.Variable(2, name="y"), od.Variable((2, 2), name="X")
    for expression in (od.kron(X, X), od.outer(x, y)):
        problem = od.Problem(od.Minimize(od.sum(expression)))
        assert not problem.is_dcp()
        with pytest.raises(od.DCPError):
            problem.compile()
    with pytest.raises(ValueError):  # cvxpy refuses when the atom is built
        cp.kron(cp.Variable((2, 2)), cp.Variable((2, 2)))
    assert od.Problem(od.Minimize(od.prod(x) + od.sum_squares(x))).compile(nonconvex=True).method == "stationary"


def test_bad_arguments_are_modeling_errors_that_name_them():
    x, X = od.Variable(3, name="x"), od.Variable((2, 3), name="X")
    cases = [(lambda: od.sum_largest(x, 0), "k must be a positive number"),
             (lambda: od.lambda_sum_largest(X, 1), r"\(2, 3\) is not a square matrix"),
             (lambda: od.sigma_max(x), r"sigma_max: shape \(3,\) is not a matrix"),
             (lambda: od.diff(x, 3), r"k must be an integer in \[0, 3\)"),
             (lambda: od.kron(x, X), r"kron: both arguments must be matrices, got shapes \(3,\) and \(2, 3\)"),
             (lambda: od.outer(X, x), r"outer: both arguments must be vectors"),
             (lambda: od.upper_tri(X), r"upper_tri: shape \(2, 3\)"),
             (lambda: od.vec(X, order="K"), "order must be 'F'"),
             (lambda: od.bmat(X), "bmat: expected a non-empty list of block rows"),
             (lambda: od.norm(X, 3), "cvxpy's matrix norms are"),
             (lambda: od.norm(X, "nuc", axis=0), "takes no axis")]
    for build, message in cases:
        with pytest.raises(od.ModelingError, match=message):
            build()


# ------------------------------------------------------------------------------------------- models
#
# Each atom gets a block of its own (its variables, parameters, objective terms and constraints);
# the blocks are joined into three models, so that a handful of compilations cover them all.


@dataclass
class Block:
    """One atom's part of a model, in optdsl and in cvxpy (same parameter names), and how to draw its parameters."""

    objective: od.Expression  # minimised
    reference: cp.Expression
    variables: dict[str, tuple[od.Variable, cp.Variable]]
    sample: Callable[[np.random.Generator], dict[str, np.ndarray]]
    constraints: dict[str, tuple[od.Constraint, cp.Constraint]] = field(default_factory=dict)  # duals compared


def _leaves(name: str, shape: tuple[int, ...], kind: str = "Variable", **attributes) -> tuple:
    return getattr(od, kind)(shape, name=name), getattr(cp, kind)(shape, name=name, **attributes)


def sum_largest_block() -> Block:
    """``min |x - a|^2 s.t. sum_largest(x, 2.5) <= 1``."""
    (x, xc), (a, ac) = _leaves("x_sl", (6,)), _leaves("a_sl", (6,), "Parameter")
    budget, budget_c = (od.sum_largest(x, 2.5) <= 1).named("budget"), cp.sum_largest(xc, 2.5) <= 1
    return Block(od.sum_squares(x - a), cp.sum_squares(xc - ac), {"x_sl": (x, xc)},
                 lambda r: {"a_sl": 1.5 * r.normal(size=6)}, {"budget": (budget, budget_c)})


def sum_smallest_block() -> Block:
    """``max sum_smallest(x, 2) - |x - a|^2``."""
    (x, xc), (a, ac) = _leaves("x_ss", (6,)), _leaves("a_ss", (6,), "Parameter")
    return Block(od.sum_squares(x - a) - od.sum_smallest(x, 2), cp.sum_squares(xc - ac) - cp.sum_smallest(xc, 2),
                 {"x_ss": (x, xc)}, lambda r: {"a_ss": r.normal(size=6)})


def entr_block() -> Block:
    """``max sum(entr(x)) + a'x s.t. sum(x) == 1``: ``x = softmax(a)``."""
    (x, xc), (a, ac) = _leaves("x_en", (5,)), _leaves("a_en", (5,), "Parameter")
    total, total_c = (od.sum(x) == 1).named("total"), cp.sum(xc) == 1
    return Block(-od.sum(od.entr(x)) - a @ x, -cp.sum(cp.entr(xc)) - ac @ xc, {"x_en": (x, xc)},
                 lambda r: {"a_en": r.normal(size=5)}, {"total": (total, total_c)})


def harmonic_mean_block() -> Block:
    """``min |x - a|^2 s.t. harmonic_mean(x) >= h``, h above the harmonic mean of a (active)."""
    (x, xc), (a, ac), (h, hc) = _leaves("x_hm", (5,)), _leaves("a_hm", (5,), "Parameter"), _leaves("h", (), "Parameter")
    floor, floor_c = (od.harmonic_mean(x) >= h).named("floor"), cp.harmonic_mean(xc) >= hc

    def sample(r):
        a0 = r.uniform(0.3, 2.0, 5)
        return {"a_hm": a0, "h": np.array(5 / np.sum(1 / a0) + r.uniform(0.2, 0.5))}

    return Block(od.sum_squares(x - a), cp.sum_squares(xc - ac), {"x_hm": (x, xc)}, sample, {"floor": (floor, floor_c)})


def total_variation_block() -> Block:
    """``min |x - a|^2 + 0.5 |diff(x)|_1`` for a piecewise constant a plus noise."""
    (x, xc), (a, ac) = _leaves("x_tv", (8,)), _leaves("a_tv", (8,), "Parameter")
    return Block(od.sum_squares(x - a) + 0.5 * od.norm1(od.diff(x)),
                 cp.sum_squares(xc - ac) + 0.5 * cp.norm1(cp.diff(xc)), {"x_tv": (x, xc)},
                 lambda r: {"a_tv": np.repeat(r.normal(size=4), 2) + 0.1 * r.normal(size=8)})


def sigma_max_block() -> Block:
    """``min |X - A|^2 s.t. norm(X, 2) <= 1``: one singular value of A above the radius, one below."""
    (X, Xc), (A, Ac) = _leaves("X_sm", (3, 2)), _leaves("A_sm", (3, 2), "Parameter")
    ball, ball_c = (od.norm(X, 2) <= 1).named("ball"), cp.norm(Xc, 2) <= 1
    return Block(od.sum_squares(X - A), cp.sum_squares(Xc - Ac), {"X_sm": (X, Xc)},
                 lambda r: {"A_sm": _with_singular_values(r, (3, 2), 0.3, 2.5)}, {"ball": (ball, ball_c)})


def normNuc_block() -> Block:
    """``min 0.5 |X - A|^2 + normNuc(X)``: singular values shrunk by 1 (all of A's above 1: X has full rank)."""
    (X, Xc), (A, Ac) = _leaves("X_nn", (3, 2)), _leaves("A_nn", (3, 2), "Parameter")
    return Block(0.5 * od.sum_squares(X - A) + od.normNuc(X), 0.5 * cp.sum_squares(Xc - Ac) + cp.normNuc(Xc),
                 {"X_nn": (X, Xc)}, lambda r: {"A_nn": _with_singular_values(r, (3, 2), 1.5, 3.0)})


def eigenvalues_block() -> Block:
    """Sums of extreme eigenvalues of ``B + diag(x)``, B with well separated eigenvalues (no ties at the solution)."""
    (x, xc), (a, ac) = _leaves("x_ev", (3,)), _leaves("a_ev", (3,), "Parameter")
    B, Bc = _leaves("B", (3, 3), "Parameter", symmetric=True)
    M, Mc = B + od.diag(x), Bc + cp.diag(xc)
    objective = (od.sum_squares(x - a) + od.lambda_sum_largest(M, 2) - od.lambda_min(M)
                 - 0.5 * od.lambda_sum_smallest(M, 1.5))
    reference = (cp.sum_squares(xc - ac) + cp.lambda_sum_largest(Mc, 2) - cp.lambda_min(Mc)
                 - 0.5 * cp.lambda_sum_smallest(Mc, 1.5))

    def sample(r):
        Q, _ = np.linalg.qr(r.normal(size=(3, 3)))
        B0 = Q @ np.diag([-4.0, 0.0, 4.0] + r.uniform(-0.5, 0.5, 3)) @ Q.T
        return {"B": (B0 + B0.T) / 2, "a_ev": r.normal(size=3)}

    return Block(objective, reference, {"x_ev": (x, xc)}, sample)


def bmat_block() -> Block:
    """``X >= x x'`` as a Schur complement: the minimum of ``a'x + tr X`` is at ``x = -a / 2``, ``X = x x'``."""
    n = 3
    (x, xc), (a, ac) = _leaves("x_bm", (n,)), _leaves("a_bm", (n,), "Parameter")
    X, Xc = _leaves("X_bm", (n, n), symmetric=True)
    corner = od.reshape(1, (1, 1))  # written to .opt as it is (a constant matrix would become data)
    schur = (od.bmat([[X, od.reshape(x, (n, 1))], [od.reshape(x, (1, n)), corner]]) >> 0).named("schur")
    column, row = cp.reshape(xc, (n, 1), order="C"), cp.reshape(xc, (1, n), order="C")
    schur_c = cp.bmat([[Xc, column], [row, np.ones((1, 1))]]) >> 0
    return Block(a @ x + od.trace(X), ac @ xc + cp.trace(Xc), {"x_bm": (x, xc), "X_bm": (X, Xc)},
                 lambda r: {"a_bm": r.normal(size=n)}, {"schur": (schur, schur_c)})


def structural_block() -> Block:
    """Least squares through kron, outer, vec and diff, with ``upper_tri(Y) == 0``: a QP."""
    (Y, Yc), (z, zc), (w, wc) = _leaves("Y", (2, 2)), _leaves("z", (3,)), _leaves("w", (4,))
    shapes = {"B_k": (2, 2), "C_k": (4, 4), "b_o": (2,), "D_o": (3, 2), "g": (4,), "e": (3,), "f": (4,)}
    mine, theirs = zip(*(_leaves(k, shape, "Parameter") for k, shape in shapes.items()))
    B, C, b, D, g, e, f = mine
    Bc, Cc, bc, Dc, gc, ec, fc = theirs
    lower, lower_c = (od.upper_tri(Y) == 0).named("lower"), cp.upper_tri(Yc) == 0
    objective = (od.sum_squares(od.kron(B, Y) - C) + od.sum_squares(od.outer(z, b) - D) + g @ od.vec(Y)
                 + od.sum_squares(od.diff(w) - e) + od.sum_squares(w - f))
    reference = (cp.sum_squares(cp.kron(Bc, Yc) - Cc) + cp.sum_squares(cp.outer(zc, bc) - Dc)
                 + gc @ cp.vec(Yc, order="F") + cp.sum_squares(cp.diff(wc) - ec) + cp.sum_squares(wc - fc))

    def sample(r):
        return {"B_k": np.eye(2) + 0.3 * r.normal(size=(2, 2)), "C_k": r.normal(size=(4, 4)),
                "b_o": r.uniform(0.5, 1.5, 2), "D_o": r.normal(size=(3, 2)), "g": r.normal(size=4),
                "e": r.normal(size=3), "f": r.normal(size=4)}

    return Block(objective, reference, {"Y": (Y, Yc), "z": (z, zc), "w": (w, wc)}, sample, {"lower": (lower, lower_c)})


@dataclass
class Model:
    """Blocks joined: the sum of their objectives, all their constraints."""

    name: str
    blocks: list[Block]
    method: str | None = None  # None: the router's choice
    settings: dict = field(default_factory=lambda: CLARABEL)  # cvxpy's solve
    tol: float = TOL

    def __post_init__(self) -> None:
        self.problem = od.Problem(od.Minimize(functools.reduce(operator.add, (b.objective for b in self.blocks))),
                                  [c for b in self.blocks for c, _ in b.constraints.values()])
        self.reference = cp.Problem(cp.Minimize(functools.reduce(operator.add, (b.reference for b in self.blocks))),
                                    [c for b in self.blocks for _, c in b.constraints.values()])
        self.variables = {k: v for b in self.blocks for k, v in b.variables.items()}
        self.constraints = {k: v for b in self.blocks for k, v in b.constraints.items()}

    def sample(self, seed: int) -> dict[str, np.ndarray]:
        r = np.random.default_rng(1000 + seed)
        return {k: v for b in self.blocks for k, v in b.sample(r).items()}


MODELS = {model.name: model for model in (
    Model("polyhedral", [sum_largest_block(), sum_smallest_block(), total_variation_block()]),
    Model("entropy", [entr_block()]),
    # cvxpy's form of harmonic_mean stalls short of 1e-10: its default tolerances, and a looser comparison
    Model("harmonic_mean", [harmonic_mean_block()], settings={"solver": "CLARABEL"}, tol=1e-4),
    Model("singular_values", [sigma_max_block(), normNuc_block(), bmat_block()]),
    Model("eigenvalues", [eigenvalues_block()]),
    Model("structural", [structural_block()]),
    Model("structural_conic", [structural_block()], method="conic"),
)}
EPS = 1e-5  # central differences


@functools.cache
def _compiled(name: str) -> tuple[CompiledProblem, Callable]:
    """The compiled problem, and one jitted call for all the tests: ``(solution, d functional)`` along a direction.

    The functional is a fixed random combination of every variable; with a zero direction the
    call is the plain solve.
    """
    model = MODELS[name]
    solve = model.problem.compile() if model.method is None else model.problem.compile(method=model.method)
    r = np.random.default_rng(5)
    weights = {v: r.normal(size=leaf.shape) for v, (leaf, _) in model.variables.items()}

    def solution_and_functional(params):
        sol = solve(params)
        return sol, sum(jnp.sum(weights[v] * sol[v]) for v in weights)

    @jax.jit
    def run(params, direction):
        (sol, value), (_, derivative) = jax.jvp(solution_and_functional, (params,), (direction,))
        return sol, value, derivative

    return solve, run


def _zero(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.zeros_like(v, dtype=np.float64) for k, v in params.items()}


def test_router_takes_these_routes():
    assert {name: _compiled(name)[0].method for name in MODELS} == {
        **{name: "conic" for name in MODELS}, "structural": "kkt"}


@pytest.mark.parametrize("name", MODELS)
def test_solutions_match_cvxpy(name):
    model, (_, run) = MODELS[name], _compiled(name)
    for seed in range(INSTANCES):
        params = model.sample(seed)
        for parameter in model.reference.parameters():
            parameter.value = params[parameter.name()]
        for variable in model.reference.variables():  # cvxpy's warm start fails on a fractional sum_largest
            variable.value = None
        model.reference.solve(**model.settings)
        assert model.reference.status == "optimal", (seed, model.reference.status)
        sol = run(params, _zero(params))[0]
        assert int(sol.status) == 0, (seed, sol.status)
        tol = model.tol
        assert abs(float(sol.objective) - model.reference.value) <= tol * (1 + abs(model.reference.value)), seed
        for variable, (_, reference) in model.variables.items():
            np.testing.assert_allclose(sol[variable], reference.value, atol=tol, err_msg=f"{variable} #{seed}")
        for dual, (mine, theirs) in model.constraints.items():
            expected = np.reshape(theirs.dual_value, np.shape(sol.dual(mine)))
            np.testing.assert_allclose(sol.dual(mine), expected, atol=tol * (1 + np.abs(expected).max()),
                                       err_msg=f"{dual} #{seed}")


def _direction(params: dict[str, np.ndarray], r: np.random.Generator) -> dict[str, np.ndarray]:
    """A random direction in every parameter (symmetric for a symmetric parameter)."""
    out = {}
    for name, value in params.items():
        d = r.normal(size=np.shape(value))
        square = np.ndim(value) == 2 and value.shape[0] == value.shape[1]
        out[name] = (d + d.T) / 2 if square and np.allclose(value, value.T) else d
    return out


@pytest.mark.parametrize("name", MODELS)
def test_solution_derivatives_match_central_differences(name):
    """A random functional of every variable, along a random direction of every parameter.

    ``sum_largest`` and ``lambda_sum_largest`` with a whole ``k`` leave their epigraph's shift
    free between the k-th and the next entry (eigenvalue): such a solution is flagged singular,
    and its least-squares derivatives are checked here too.
    """
    model, (_, run) = MODELS[name], _compiled(name)
    for seed in range(3):
        params = model.sample(seed)
        direction = _direction(params, np.random.default_rng(seed))
        _, _, derivative = run(params, direction)
        shifted = [run({k: params[k] + s * EPS * direction[k] for k in params}, _zero(params))[1] for s in (1, -1)]
        central = (shifted[0] - shifted[1]) / (2 * EPS)
        assert abs(float(derivative) - float(central)) <= 1e-4 * (1 + abs(float(central))), (seed, derivative,
                                                                                             central)


@pytest.mark.parametrize("name", ["polyhedral", "singular_values", "eigenvalues"])
def test_solutions_with_a_free_epigraph_shift_are_polished_to_rounding(name):
    """Conic forms with a face of solutions still end on a point where the embedding residual vanishes.

    The interior point stops inside the cones, about ``sqrt(mu)`` from the face, which leaves the
    solution (and its derivatives) accurate only to the square root of the tolerance; the polish must
    land on the face. Checked at the nearby instances central differences take.
    """
    model, (_, run) = MODELS[name], _compiled(name)
    for seed in range(6):
        params = model.sample(seed)
        direction = _direction(params, np.random.default_rng(seed))
        for step in (1e-5, -1e-5, 1e-6, -1e-6):
            sol = run({k: params[k] + step * direction[k] for k in params}, _zero(params))[0]
            assert int(sol.status) == 0 and float(sol.residual) <= 1e-9, (seed, step, sol.status, sol.residual)


@pytest.mark.parametrize("name", MODELS)
def test_models_write_to_opt_and_read_back(name):
    problem = MODELS[name].problem
    text, data = problem.to_opt(with_data=True)
    assert not data
    assert od.parse(text) == problem
