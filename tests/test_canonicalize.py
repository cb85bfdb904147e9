"""Conic canonicalisation: DCP models -> ``min c'x s.t. A x + s = b, s in K`` -> Clarabel, against cvxpy.

Each model's conic data (built by ``ConicForm.data`` from parameter values) is solved by
Clarabel through a small test-only adapter, and the objective, the variables and the duals
of the user's constraints are compared with cvxpy + Clarabel on the same model written in
cvxpy (float64). Every atom's graph form is also checked alone: minimising (maximising)
the atom of a fixed argument must give the atom's value. Then: the data are traceable
(``jit``, ``vmap`` over parameter sets, gradients against central finite differences),
float32 stays float32, unsupported input raises a clear error, and a model with every cone
runs end to end through the runtime's differentiable conic solver.
"""

from __future__ import annotations

import doctest
import importlib
from dataclasses import dataclass
from typing import Callable

import clarabel
import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp

import optdsl as od
from optdsl.compiler.conic import ConicForm, canonicalize
from optdsl.compiler.conic.blocks import TightBlock
from optdsl.errors import CompileError
from optdsl.modeling import Atom
from optdsl.modeling.errors import DCPError
from optdsl.runtime.compiled import ParameterError

# Clarabel as tight as it goes, for both solves: interior points stop at a duality gap, and the variables of
# SOC-reformulated squares are only accurate to about its square root. Reduced-accuracy statuses are
# accepted ("AlmostSolved", cvxpy's "optimal_inaccurate"); the comparisons themselves are the test.
TIGHT = dict(tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12, tol_ktratio=1e-10, max_iter=500)
pytestmark = pytest.mark.filterwarnings("ignore:Solution may be inaccurate")


# ------------------------------------------------------------------ test-only adapter: (A, b, c, cones) -> Clarabel


def _psd_order(k: int) -> np.ndarray:
    """Positions in our svec (lower triangle by columns) of Clarabel's entries (upper triangle by columns)."""
    cols, rows = np.triu_indices(k)
    ours = {(int(i), int(j)): n for n, (i, j) in enumerate(zip(rows, cols))}
    return np.array([ours[(c, r)] for c in range(k) for r in range(c + 1)])


def solve_conic(A, b, c, cones) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``min c'x s.t. A x + s = b, s in K`` with Clarabel; ``(x, y)`` in our row order."""
    A, b, c = (np.asarray(v, np.float64) for v in (A, b, c))
    m, n = A.shape
    order, kinds, row = [], [], 0
    for size, cone in ([(cones.zero, clarabel.ZeroConeT(cones.zero))] if cones.zero else []) + \
            ([(cones.nonneg, clarabel.NonnegativeConeT(cones.nonneg))] if cones.nonneg else []) + \
            [(q, clarabel.SecondOrderConeT(q)) for q in cones.soc]:
        order.append(np.arange(row, row + size))
        kinds.append(cone)
        row += size
    for k in cones.psd:
        order.append(row + _psd_order(k))
        kinds.append(clarabel.PSDTriangleConeT(k))
        row += k * (k + 1) // 2
    for _ in range(cones.exp):
        order.append(np.arange(row, row + 3))
        kinds.append(clarabel.ExponentialConeT())
        row += 3
    assert row == m
    order = np.concatenate(order)
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    for key, value in TIGHT.items():
        setattr(settings, key, value)
    solution = clarabel.DefaultSolver(sp.csc_matrix((n, n)), c, sp.csc_matrix(A[order]), b[order], kinds,
                                      settings).solve()
    assert str(solution.status) in ("Solved", "AlmostSolved"), solution.status
    y = np.empty(m)
    y[order] = np.asarray(solution.z)
    return np.asarray(solution.x), y


def _cvxpy_dual(constraint: cp.Constraint) -> np.ndarray:
    """cvxpy's dual value in optdsl's ``dual_shape`` (SOC: ``(t, x)`` per cone; exp: ``(3, ...)``)."""
    value = constraint.dual_value
    if isinstance(constraint, cp.SOC):
        t, x = (np.asarray(v) for v in value)
        if t.size == 1:
            return np.concatenate([t.ravel(), x.ravel()])
        return np.column_stack([t, x.T if constraint.axis == 0 else x])
    if isinstance(constraint, cp.constraints.ExpCone):
        return np.stack([np.asarray(v) for v in value])
    return np.asarray(value)


# ------------------------------------------------------------------------------------------- the gallery


@dataclass
class Model:
    name: str
    problem: od.Problem
    params: dict[str, np.ndarray]
    # params -> (cvxpy problem, {variable name: cvxpy variable}, {constraint name: cvxpy constraint})
    reference: Callable[[dict], tuple[cp.Problem, dict, dict]]
    tol: float = 1e-6  # variables and duals (scaled by the largest dual)


rng = np.random.default_rng(7)


def lp() -> Model:
    n, m = 5, 8
    G0, x0 = rng.normal(size=(m, n)), rng.uniform(0.1, 0.3, size=n)
    h0, c0 = G0 @ x0 + rng.uniform(0.1, 1.0, size=m), rng.normal(size=n)
    x = od.Variable(n, name="x", nonneg=True)
    c, G, h = od.Parameter(n, name="c"), od.Parameter((m, n), name="G"), od.Parameter(m, name="h")
    problem = od.Problem(od.Minimize(c @ x), [G @ x <= h, od.sum(x) == 1])

    def reference(p):
        xc = cp.Variable(n, nonneg=True)
        cons = [p["G"] @ xc <= p["h"], cp.sum(xc) == 1]
        return cp.Problem(cp.Minimize(p["c"] @ xc), cons), {"x": xc}, {"c0": cons[0], "c1": cons[1]}

    return Model("lp", problem, {"c": c0, "G": G0, "h": h0}, reference)


def qp() -> Model:
    """OptNet-style QP with a parameter P (factored by Cholesky inside the data function)."""
    n = 4
    M = rng.normal(size=(n, n))
    P0, q0 = M @ M.T + np.eye(n), rng.normal(size=n)
    G0, h0 = rng.normal(size=(3, n)), rng.uniform(0.1, 0.5, size=3)
    A0 = rng.normal(size=(1, n))
    x = od.Variable(n, name="x")
    P, q, h = od.Parameter((n, n), name="P"), od.Parameter(n, name="q"), od.Parameter(3, name="h")
    problem = od.Problem(od.Minimize(0.5 * od.quad_form(x, P) + q @ x), [G0 @ x <= h, A0 @ x == 0.3])

    def reference(p):
        xc = cp.Variable(n)
        cons = [G0 @ xc <= p["h"], A0 @ xc == 0.3]
        obj = cp.Minimize(0.5 * cp.quad_form(xc, cp.psd_wrap(p["P"])) + p["q"] @ xc)
        return cp.Problem(obj, cons), {"x": xc}, {"c0": cons[0], "c1": cons[1]}

    return Model("qp", problem, {"P": P0, "q": q0, "h": h0}, reference)


def concave_qp() -> Model:
    """A constant semidefinite (rank-deficient) P, factored by eigendecomposition; concave quad_form; norm_inf."""
    n = 4
    F = rng.normal(size=(n, 2))
    P0, q0 = F @ F.T, rng.normal(size=n)
    x = od.Variable(n, name="x")
    q = od.Parameter(n, name="q")
    problem = od.Problem(od.Maximize(od.quad_form(x, -P0) + q @ x - 0.1 * od.sum_squares(x)),
                         [od.norm_inf(x) <= 1])

    def reference(p):
        xc = cp.Variable(n)
        cons = [cp.norm_inf(xc) <= 1]
        obj = cp.Maximize(-cp.quad_form(xc, P0) + p["q"] @ xc - 0.1 * cp.sum_squares(xc))
        return cp.Problem(obj, cons), {"x": xc}, {"c0": cons[0]}

    return Model("concave_qp", problem, {"q": q0}, reference)


def socp() -> Model:
    """SOC constraints written as norm2(...) <= affine and as SOC(t, x); norm2 with an axis."""
    n = 3
    A1, b1, c1 = rng.normal(size=(4, n)), rng.normal(size=4), rng.normal(size=n)
    A2, b2, c2 = rng.normal(size=(3, n)), rng.normal(size=3), rng.normal(size=n)
    d1 = np.linalg.norm(b1) + 1.0
    d2 = np.linalg.norm(b2) + 1.0
    f0 = rng.normal(size=n)
    Y0 = rng.normal(size=(2, 3))
    x, X = od.Variable(n, name="x"), od.Variable((2, 3), name="X")
    f = od.Parameter(n, name="f")
    problem = od.Problem(
        od.Minimize(f @ x + od.sum(od.norm2(X - Y0, axis=1)) + od.sum_squares(X)),
        [od.norm2(A1 @ x + b1) <= c1 @ x + d1, od.SOC(c2 @ x + d2, A2 @ x + b2), od.norm2(x) <= 2])

    def reference(p):
        xc, Xc = cp.Variable(n), cp.Variable((2, 3))
        cons = [cp.norm(A1 @ xc + b1) <= c1 @ xc + d1, cp.SOC(c2 @ xc + d2, A2 @ xc + b2), cp.norm(xc) <= 2]
        obj = cp.Minimize(p["f"] @ xc + cp.sum(cp.norm(Xc - Y0, axis=1)) + cp.sum_squares(Xc))
        return cp.Problem(obj, cons), {"x": xc, "X": Xc}, {"c0": cons[0], "c1": cons[1], "c2": cons[2]}

    return Model("socp", problem, {"f": f0}, reference)


def soc_axis() -> Model:
    """User SOC constraints with axis=0 and axis=1 (duals stacked (t, x) per cone)."""
    Y0, Z0 = rng.normal(size=(3, 4)), rng.normal(size=(2, 3))
    X, t = od.Variable((3, 4), name="X"), od.Variable(4, name="t")
    Z, u = od.Variable((2, 3), name="Z"), od.Variable(2, name="u")
    problem = od.Problem(od.Minimize(od.sum(t) + od.sum_squares(X - Y0) + 2 * od.sum(u) + od.sum_squares(Z - Z0)),
                         [od.SOC(t, X, axis=0), od.SOC(u, Z, axis=1)])

    def reference(p):
        Xc, tc, Zc, uc = cp.Variable((3, 4)), cp.Variable(4), cp.Variable((2, 3)), cp.Variable(2)
        cons = [cp.SOC(tc, Xc, axis=0), cp.SOC(uc, Zc, axis=1)]
        obj = cp.Minimize(cp.sum(tc) + cp.sum_squares(Xc - Y0) + 2 * cp.sum(uc) + cp.sum_squares(Zc - Z0))
        return cp.Problem(obj, cons), {"X": Xc, "t": tc, "Z": Zc, "u": uc}, {"c0": cons[0], "c1": cons[1]}

    return Model("soc_axis", problem, {}, reference)


def markowitz() -> Model:
    """Maximise expected return with an SOC risk limit ``||F' w|| <= sigma``, long only, fully invested."""
    n, k = 6, 3
    mu0, F0 = rng.uniform(0.0, 0.2, size=n), 0.3 * rng.normal(size=(n, k))
    w = od.Variable(n, name="w")
    mu, F, sigma = od.Parameter(n, name="mu"), od.Parameter((n, k), name="F"), od.Parameter(nonneg=True, name="sigma")
    problem = od.Problem(od.Maximize(mu @ w - 0.05 * od.sum_squares(w)),
                         [od.sum(w) == 1, w >= 0, od.norm2(F.T @ w) <= sigma])

    def reference(p):
        wc = cp.Variable(n)
        cons = [cp.sum(wc) == 1, wc >= 0, cp.norm(p["F"].T @ wc) <= p["sigma"]]
        obj = cp.Maximize(p["mu"] @ wc - 0.05 * cp.sum_squares(wc))
        return cp.Problem(obj, cons), {"w": wc}, {"c0": cons[0], "c1": cons[1], "c2": cons[2]}

    return Model("markowitz", problem, {"mu": mu0, "F": F0, "sigma": np.array(0.25)}, reference)


def entropy_max() -> Model:
    n = 5
    A0 = rng.normal(size=(2, n))
    b0 = A0 @ np.array([0.1, 0.3, 0.2, 0.25, 0.15])
    x = od.Variable(n, name="x")
    b = od.Parameter(2, name="b")
    problem = od.Problem(od.Maximize(od.sum(od.entropy(x))), [A0 @ x == b, od.sum(x) == 1])

    def reference(p):
        xc = cp.Variable(n)
        cons = [A0 @ xc == p["b"], cp.sum(xc) == 1]
        return cp.Problem(cp.Maximize(cp.sum(cp.entr(xc))), cons), {"x": xc}, {"c0": cons[0], "c1": cons[1]}

    return Model("entropy_max", problem, {"b": b0}, reference)


def log_sum_exp() -> Model:
    A0, b0 = rng.normal(size=(6, 3)), rng.normal(size=6)
    x = od.Variable(3, name="x")
    A, b = od.Parameter((6, 3), name="A"), od.Parameter(6, name="b")
    z = A @ x + b
    problem = od.Problem(od.Minimize(od.log_sum_exp(z) + od.sum(od.log_sum_exp(od.reshape(z, (2, 3)), axis=1))),
                         [od.norm_inf(x) <= 1, od.sum(x) >= 0.5])

    def reference(p):
        xc = cp.Variable(3)
        zc = p["A"] @ xc + p["b"]
        cons = [cp.norm_inf(xc) <= 1, cp.sum(xc) >= 0.5]
        obj = cp.Minimize(cp.log_sum_exp(zc) + cp.sum(cp.log_sum_exp(cp.reshape(zc, (2, 3), order="C"), axis=1)))
        return cp.Problem(obj, cons), {"x": xc}, {"c0": cons[0], "c1": cons[1]}

    return Model("log_sum_exp", problem, {"A": A0, "b": b0}, reference)


def logistic_regression() -> Model:
    m, n = 20, 4
    X0 = rng.normal(size=(m, n))
    y0 = np.where(X0 @ rng.normal(size=n) + 0.8 * rng.normal(size=m) > 0, 1.0, -1.0)
    w = od.Variable(n, name="w")
    X, y, lam = od.Parameter((m, n), name="X"), od.Parameter(m, name="y"), od.Parameter(nonneg=True, name="lam")
    problem = od.Problem(od.Minimize(od.sum(od.logistic(-od.multiply(y, X @ w))) + lam * od.norm1(w)))

    def reference(p):
        wc = cp.Variable(n)
        obj = cp.Minimize(cp.sum(cp.logistic(-cp.multiply(p["y"], p["X"] @ wc))) + p["lam"] * cp.norm1(wc))
        return cp.Problem(obj), {"w": wc}, {}

    return Model("logistic_regression", problem, {"X": X0, "y": y0, "lam": np.array(0.5)}, reference)


def nearest_correlation() -> Model:
    n = 4
    M = rng.normal(size=(n, n))
    C0 = (M + M.T) / 2 + np.eye(n)
    X, C = od.Variable((n, n), name="X"), od.Parameter((n, n), name="C")
    problem = od.Problem(od.Minimize(od.norm(X - C, "fro")), [X >> 0, od.diag(X) == 1])

    def reference(p):
        Xc = cp.Variable((n, n), symmetric=True)
        cons = [Xc >> 0, cp.diag(Xc) == 1]
        return (cp.Problem(cp.Minimize(cp.norm(Xc - p["C"], "fro")), cons), {"X": Xc},
                {"c0": cons[0], "c1": cons[1]})

    return Model("nearest_correlation", problem, {"C": C0}, reference)


def log_det() -> Model:
    n = 3
    M = rng.normal(size=(n, n))
    S0 = M @ M.T + np.eye(n)
    X, S = od.Variable((n, n), name="X"), od.Parameter((n, n), name="S")
    problem = od.Problem(od.Maximize(od.log_det(X)), [od.trace(S @ X) <= 1, X == X.T])

    def reference(p):
        Xc = cp.Variable((n, n), symmetric=True)
        cons = [cp.trace(p["S"] @ Xc) <= 1]
        return cp.Problem(cp.Maximize(cp.log_det(Xc)), cons), {"X": Xc}, {"c0": cons[0]}

    return Model("log_det", problem, {"S": S0}, reference)


def lambda_max() -> Model:
    n = 3
    sym = [(M + M.T) / 2 for M in rng.normal(size=(3, n, n))]
    x = od.Variable(2, name="x")
    problem = od.Problem(od.Minimize(od.lambda_max(sym[0] + x[0] * sym[1] + x[1] * sym[2]) + od.sum_squares(x)),
                         [x >= -1])

    def reference(p):
        xc = cp.Variable(2)
        cons = [xc >= -1]
        obj = cp.Minimize(cp.lambda_max(sym[0] + xc[0] * sym[1] + xc[1] * sym[2]) + cp.sum_squares(xc))
        return cp.Problem(obj, cons), {"x": xc}, {"c0": cons[0]}

    return Model("lambda_max", problem, {}, reference)


def huber() -> Model:
    A0 = rng.normal(size=(12, 3))
    b0 = A0 @ rng.normal(size=3) + 0.3 * rng.normal(size=12)
    b0[:3] += 5.0  # outliers
    x = od.Variable(3, name="x")
    b = od.Parameter(12, name="b")
    problem = od.Problem(od.Minimize(od.sum(od.huber(A0 @ x - b, 0.8)) + 0.1 * od.sum(od.huber(x))))

    def reference(p):
        xc = cp.Variable(3)
        return cp.Problem(cp.Minimize(cp.sum(cp.huber(A0 @ xc - p["b"], 0.8)) + 0.1 * cp.sum(cp.huber(xc)))), \
            {"x": xc}, {}

    return Model("huber", problem, {"b": b0}, reference)


def matrix_frac() -> Model:
    """matrix_frac with a variable matrix (vector x) and with a matrix argument (trace form)."""
    a0 = rng.normal(size=3)
    M = rng.normal(size=(3, 3))
    P0, Z0 = M @ M.T + np.eye(3), rng.normal(size=(3, 2))
    x, Y, Z = od.Variable(3, name="x"), od.Variable((3, 3), name="Y"), od.Variable((3, 2), name="Z")
    P = od.Parameter((3, 3), name="P")
    problem = od.Problem(
        od.Minimize(od.matrix_frac(x, Y) + od.trace(Y) + od.matrix_frac(Z, P) + od.sum_squares(Z - Z0)),
        [Y >> np.eye(3), Y == Y.T, a0 @ x == 1])

    def reference(p):
        xc, Yc, Zc = cp.Variable(3), cp.Variable((3, 3), symmetric=True), cp.Variable((3, 2))
        cons = [Yc >> np.eye(3), a0 @ xc == 1]
        columns = sum(cp.matrix_frac(Zc[:, j], p["P"]) for j in range(2))  # cvxpy: constant P needs a vector
        obj = cp.Minimize(cp.matrix_frac(xc, Yc) + cp.trace(Yc) + columns + cp.sum_squares(Zc - Z0))
        return cp.Problem(obj, cons), {"x": xc, "Y": Yc, "Z": Zc}, {"c0": cons[0], "c2": cons[1]}

    # Clarabel reaches Z of this form only to about 1e-6..1e-5 (the stand-in T of matrix_frac(Z, P) is seen
    # through its trace alone); the conic route's own solve is checked against the closed form below.
    return Model("matrix_frac", problem, {"P": P0}, reference, tol=2e-5)


def quad_over_lin() -> Model:
    A0, b0 = rng.normal(size=(5, 3)), rng.normal(size=5)
    x, y = od.Variable(3, name="x"), od.Variable(name="y")
    b = od.Parameter(5, name="b")
    problem = od.Problem(od.Minimize(od.quad_over_lin(A0 @ x - b, y) + y), [y <= 5, od.sum(x) == 1])

    def reference(p):
        xc, yc = cp.Variable(3), cp.Variable()
        cons = [yc <= 5, cp.sum(xc) == 1]
        return cp.Problem(cp.Minimize(cp.quad_over_lin(A0 @ xc - p["b"], yc) + yc), cons), \
            {"x": xc, "y": yc}, {"c0": cons[0], "c1": cons[1]}

    return Model("quad_over_lin", problem, {"b": b0}, reference)


def utility() -> Model:
    """Geometric-mean-like concave utilities: sqrt, x ** p for 0 < p < 1, log, geo_mean, under a budget."""
    w0 = rng.uniform(0.5, 1.5, size=4)
    x = od.Variable(4, name="x")
    w = od.Parameter(4, nonneg=True, name="w")
    problem = od.Problem(
        od.Maximize(w @ od.sqrt(x) + od.sum(x ** 0.5) + od.sum(od.power(x, 2 / 3)) + 0.3 * od.sum(od.log(x))
                    + od.sum(od.power(x[:2], 0.25)) + od.min(x) + od.sum(od.minimum(x, 0.7))
                    + od.geo_mean(x[1:], [1, 2, 1])),
        [od.sum(x) <= 3, x[0] <= 0.5])

    def reference(p):
        xc = cp.Variable(4)
        cons = [cp.sum(xc) <= 3, xc[0] <= 0.5]
        obj = cp.Maximize(p["w"] @ cp.sqrt(xc) + cp.sum(xc ** 0.5) + cp.sum(cp.power(xc, 2 / 3))
                          + 0.3 * cp.sum(cp.log(xc)) + cp.sum(cp.power(xc[:2], 0.25)) + cp.min(xc)
                          + cp.sum(cp.minimum(xc, 0.7)) + cp.geo_mean(xc[1:], [1, 2, 1]))
        return cp.Problem(obj, cons), {"x": xc}, {"c0": cons[0], "c1": cons[1]}

    return Model("utility", problem, {"w": w0}, reference)


def powers() -> Model:
    """Convex powers: even and odd integers, fractional p > 1, negative p, inv_pos, square."""
    t0 = rng.uniform(0.5, 1.5, size=3)
    x = od.Variable(3, name="x")
    t = od.Parameter(3, name="t")
    problem = od.Problem(
        od.Minimize(od.sum(od.power(x, 3)) + od.sum(od.power(x - t, 4)) + od.sum(od.power(x, 1.5))
                    + od.sum(od.power(x, -1.5)) + od.sum(od.inv_pos(x)) + od.sum(od.square(x - 2 * t))
                    + od.sum(od.power(x, 2)) + od.sum(od.power(x, -1)) - od.sum(x)),
        [x <= 2])

    def reference(p):
        xc = cp.Variable(3)
        cons = [xc <= 2]
        obj = cp.Minimize(cp.sum(cp.power(xc, 3)) + cp.sum(cp.power(xc - p["t"], 4)) + cp.sum(cp.power(xc, 1.5))
                          + cp.sum(cp.power(xc, -1.5)) + cp.sum(cp.inv_pos(xc)) + cp.sum(cp.square(xc - 2 * p["t"]))
                          + cp.sum(cp.power(xc, 2)) + cp.sum(cp.power(xc, -1)) - cp.sum(xc))
        return cp.Problem(obj, cons), {"x": xc}, {"c0": cons[0]}

    return Model("powers", problem, {"t": t0}, reference)


def piecewise() -> Model:
    """max / min / pos / neg / abs / maximum / minimum, with axes, regularised for a unique solution."""
    A0, b0, x0 = rng.normal(size=(4, 3)), rng.normal(size=4), rng.normal(size=3)
    x, X = od.Variable(3, name="x"), od.Variable((2, 3), name="X")
    b = od.Parameter(4, name="b")
    problem = od.Problem(
        od.Minimize(od.max(A0 @ x - b) + od.sum(od.pos(x - 0.5)) + od.sum(od.neg(x + 0.5)) + 0.3 * od.norm1(x)
                    + od.sum(od.abs(x - x0)) + od.sum(od.maximum(x, -x, 0.2)) - od.sum(od.minimum(x, 1 - x, 0.4))
                    - od.min(A0 @ x) + od.sum(od.max(X, axis=0)) + od.sum(od.max(X, axis=1))
                    - od.sum(od.min(X, axis=1)) + 0.5 * od.sum_squares(x) + od.sum_squares(X)),
        [od.sum(x) == 0.3])

    def reference(p):
        xc, Xc = cp.Variable(3), cp.Variable((2, 3))
        cons = [cp.sum(xc) == 0.3]
        obj = cp.Minimize(cp.max(A0 @ xc - p["b"]) + cp.sum(cp.pos(xc - 0.5)) + cp.sum(cp.neg(xc + 0.5))
                          + 0.3 * cp.norm1(xc) + cp.sum(cp.abs(xc - x0)) + cp.sum(cp.maximum(xc, -xc, 0.2))
                          - cp.sum(cp.minimum(xc, 1 - xc, 0.4)) - cp.min(A0 @ xc) + cp.sum(cp.max(Xc, axis=0))
                          + cp.sum(cp.max(Xc, axis=1)) - cp.sum(cp.min(Xc, axis=1)) + 0.5 * cp.sum_squares(xc)
                          + cp.sum_squares(Xc))
        return cp.Problem(obj, cons), {"x": xc, "X": Xc}, {"c0": cons[0]}

    return Model("piecewise", problem, {"b": b0}, reference)


def divergences() -> Model:
    """exp, kl_div, rel_entr (both arguments variable) and a user exponential-cone constraint."""
    q0 = rng.uniform(0.5, 1.5, size=4)
    A0 = rng.normal(size=(1, 4))
    x, y, z = od.Variable(4, name="x"), od.Variable(4, name="y"), od.Variable(2, name="z")
    q = od.Parameter(4, nonneg=True, name="q")
    problem = od.Problem(
        od.Minimize(od.sum(od.kl_div(x, q)) + od.sum(od.rel_entr(x, y)) + od.sum(od.exp(y - 1)) + od.sum(z)),
        [A0 @ x == 0.2, od.sum(x) == 2, od.ExpCone(x[:2] - 1, np.ones(2), z)])

    def reference(p):
        xc, yc, zc = cp.Variable(4), cp.Variable(4), cp.Variable(2)
        cons = [A0 @ xc == 0.2, cp.sum(xc) == 2, cp.constraints.ExpCone(xc[:2] - 1, np.ones(2), zc)]
        obj = cp.Minimize(cp.sum(cp.kl_div(xc, p["q"])) + cp.sum(cp.rel_entr(xc, yc)) + cp.sum(cp.exp(yc - 1))
                          + cp.sum(zc))
        return cp.Problem(obj, cons), {"x": xc, "y": yc, "z": zc}, {"c0": cons[0], "c1": cons[1], "c2": cons[2]}

    return Model("divergences", problem, {"q": q0}, reference)


def pnorms() -> Model:
    """pnorm for p = 3, 1.5 (with an axis) and 4 (a power of two), fitted to data."""
    A0, b0, Y0 = rng.normal(size=(5, 3)), rng.normal(size=5), rng.normal(size=(3, 2))
    x, X = od.Variable(3, name="x"), od.Variable((3, 2), name="X")
    b = od.Parameter(5, name="b")
    problem = od.Problem(od.Minimize(od.pnorm(A0 @ x - b, 3) + od.sum(od.pnorm(X - Y0, 1.5, axis=0))
                                     + od.norm(x, 4) + 0.1 * od.sum_squares(X)))

    def reference(p):
        xc, Xc = cp.Variable(3), cp.Variable((3, 2))
        columns = sum(cp.pnorm(Xc[:, j] - Y0[:, j], 1.5) for j in range(2))  # cvxpy: axis only for p = 2
        obj = cp.Minimize(cp.pnorm(A0 @ xc - p["b"], 3) + columns + cp.pnorm(xc, 4) + 0.1 * cp.sum_squares(Xc))
        return cp.Problem(obj), {"x": xc, "X": Xc}, {}

    return Model("pnorms", problem, {"b": b0}, reference)


def qcqp() -> Model:
    """Nonlinear inequalities, active and not, whose one non-affine term takes up the slack (and two that cannot)."""
    x0, y0 = np.array([1.5, -0.5, 0.8]), np.array([0.7, 1.2, 0.4])
    M = rng.normal(size=(3, 3))
    P0 = M @ M.T + np.eye(3)
    x, y = od.Variable(3, name="x"), od.Variable(3, name="y")
    P = od.Parameter((3, 3), name="P")
    problem = od.Problem(
        od.Minimize(od.sum_squares(x - x0) + od.sum_squares(y - y0)),
        [od.norm2(x) <= 1.5, 0.5 * od.quad_form(x, P) + x[0] <= 4, od.log(y[0]) + 1 >= x[1],
         od.sum(od.abs(x)) <= 5, od.norm2(x) + od.norm1(y) <= 3.5, od.exp(y) <= 2])

    def reference(p):
        xc, yc = cp.Variable(3), cp.Variable(3)
        cons = [cp.norm(xc) <= 1.5, 0.5 * cp.quad_form(xc, cp.psd_wrap(p["P"])) + xc[0] <= 4,
                cp.log(yc[0]) + 1 >= xc[1], cp.sum(cp.abs(xc)) <= 5, cp.norm(xc) + cp.norm1(yc) <= 3.5,
                cp.exp(yc) <= 2]
        obj = cp.Minimize(cp.sum_squares(xc - x0) + cp.sum_squares(yc - y0))
        return cp.Problem(obj, cons), {"x": xc, "y": yc}, {f"c{i}": c for i, c in enumerate(cons)}

    return Model("qcqp", problem, {"P": P0}, reference)


def spectral() -> Model:
    """sum_largest, sigma_max, normNuc, lambda_sum_largest and harmonic_mean (an active lower bound)."""
    r = np.random.default_rng(17)
    a0, A0, b0, c0 = r.normal(size=5), 2 * r.normal(size=(3, 2)), r.normal(size=3), r.uniform(0.3, 2.0, 4)
    S0 = np.diag([-3.0, 0.0, 3.0])
    x, X, z, y = (od.Variable(s, name=k) for k, s in (("x", 5), ("X", (3, 2)), ("z", 3), ("y", 4)))
    a, A = od.Parameter(5, name="a"), od.Parameter((3, 2), name="A")
    problem = od.Problem(
        od.Minimize(od.sum_largest(x, 2.5) + od.sum_squares(x - a) + od.sigma_max(X) + 0.5 * od.normNuc(X)
                    + od.sum_squares(X - A) + od.lambda_sum_largest(S0 + od.diag(z), 2) + od.sum_squares(z - b0)
                    + od.sum_squares(y - c0)),
        [od.harmonic_mean(y) >= 1.5])

    def reference(p):
        xc, Xc, zc, yc = cp.Variable(5), cp.Variable((3, 2)), cp.Variable(3), cp.Variable(4)
        cons = [cp.harmonic_mean(yc) >= 1.5]
        obj = (cp.sum_largest(xc, 2.5) + cp.sum_squares(xc - p["a"]) + cp.sigma_max(Xc) + 0.5 * cp.normNuc(Xc)
               + cp.sum_squares(Xc - p["A"]) + cp.lambda_sum_largest(S0 + cp.diag(zc), 2) + cp.sum_squares(zc - b0)
               + cp.sum_squares(yc - c0))
        return cp.Problem(cp.Minimize(obj), cons), {"x": xc, "X": Xc, "z": zc, "y": yc}, {"c0": cons[0]}

    return Model("spectral", problem, {"a": a0, "A": A0}, reference, tol=1e-5)


GALLERY = [lp(), qp(), concave_qp(), socp(), soc_axis(), markowitz(), entropy_max(), log_sum_exp(),
           logistic_regression(), nearest_correlation(), log_det(), lambda_max(), huber(), matrix_frac(),
           quad_over_lin(), utility(), powers(), piecewise(), divergences(), pnorms(), qcqp(), spectral()]


def _solve(model: Model) -> tuple[ConicForm, jax.Array, jax.Array, float]:
    form = canonicalize(model.problem)
    A, b, c, offset = jax.jit(form.data)(model.params)
    x, y = solve_conic(A, b, c, form.cones)
    x, y = jnp.asarray(x), jnp.asarray(y)
    return form, x, y, float(form.objective_value(x, c, offset))


def _reference(model: Model) -> tuple[cp.Problem, dict, dict]:
    problem, variables, constraints = model.reference(model.params)
    problem.solve(solver="CLARABEL", **TIGHT)
    assert problem.status in ("optimal", "optimal_inaccurate"), problem.status
    return problem, variables, constraints


def test_matrix_frac_on_the_conic_route_matches_its_closed_form():
    """min matrix_frac(Z, P) + ||Z - Z0||^2 over Z alone: Z = P (P + I)^{-1} Z0, and finite derivatives in P."""
    Z, P = od.Variable((3, 2), name="Z"), od.Parameter((3, 3), name="P")
    M, Z0 = rng.normal(size=(3, 3)), rng.normal(size=(3, 2))
    P0 = M @ M.T + np.eye(3)
    solve = od.Problem(od.Minimize(od.matrix_frac(Z, P) + od.sum_squares(Z - Z0))).compile()
    np.testing.assert_allclose(solve(P=P0)["Z"], P0 @ np.linalg.solve(P0 + np.eye(3), Z0), atol=1e-9)
    assert np.all(np.isfinite(jax.grad(lambda p: solve(P=p).objective)(P0)))


@pytest.mark.parametrize("model", GALLERY, ids=lambda m: m.name)
def test_gallery_against_cvxpy(model: Model):
    """Objective (relative), variables and duals (scaled by the largest entry) match cvxpy to 1e-6."""
    form, x, y, value = _solve(model)
    reference, variables, constraints = _reference(model)
    assert abs(value - reference.value) <= 1e-6 * max(1.0, abs(reference.value))
    ours = form.variables(x)
    assert set(ours) == {v.name for v in model.problem.variables()}
    for name, variable in variables.items():
        np.testing.assert_allclose(ours[name], variable.value, atol=model.tol, rtol=0, err_msg=name)
    duals = form.duals(y)
    assert set(duals) == set(model.problem.named_constraints())
    for name, constraint in constraints.items():
        expected = _cvxpy_dual(constraint)
        assert duals[name].shape == model.problem.named_constraints()[name].dual_shape
        scale = max(1.0, float(np.max(np.abs(expected))))
        np.testing.assert_allclose(duals[name], expected, atol=model.tol * scale, rtol=0, err_msg=name)


def test_inequalities_a_lone_node_can_close_hold_with_equality():
    """Such constraints pin a private stand-in (unique even when inactive); the others keep a slack row."""
    form = canonicalize(qcqp().problem)
    tight = {name: isinstance(block, TightBlock) for name, (_, block) in form.duals_at.items()}
    assert tight == {"c0": True, "c1": True, "c2": True, "c3": False, "c4": False, "c5": True}


def _with_graph_form() -> tuple[set[type[Atom]], set[type[Atom]]]:
    """The atom classes of the catalogue with a graph form of their own, and those without."""
    classes = (getattr(od.modeling.atoms, name) for name in od.modeling.atoms.__all__)
    atoms = {a for a in classes if isinstance(a, type) and issubclass(a, Atom)}
    with_graph = {a for a in atoms if a.graph_form is not Atom.graph_form}
    return with_graph, atoms - with_graph


def test_gallery_covers_every_atom_with_a_graph_form():
    with_graph, _ = _with_graph_form()
    expressions = [e for m in GALLERY for e in (m.problem.objective.expr, *(a for c in m.problem.constraints
                                                                            for a in c.args))]
    used = {type(node) for e in expressions for node in e.subexpressions()}
    assert len(with_graph) == 35
    assert with_graph <= used, sorted(a.__name__ for a in with_graph - used)


# --------------------------------------------------------------------------- each graph form alone is tight


def _spd(n: int, seed: int) -> np.ndarray:
    M = np.random.default_rng(seed).normal(size=(n, n))
    return M @ M.T + np.eye(n)


def _pinned_atoms():
    """Atoms of variables pinned to generic values: ``(problem, values, parameters, convex, concave)``."""
    r = np.random.default_rng(3)
    values = {"u": r.normal(size=4), "p": r.uniform(0.5, 2.0, 4), "q": r.uniform(0.5, 2.0, 4),
              "Q": r.normal(size=(2, 3)), "s": np.array(1.3), "M": _spd(3, 4)}
    var = {name: od.Variable(np.shape(v), name=name) for name, v in values.items()}
    u, p, q, Q, s, M = (var[k] for k in ("u", "p", "q", "Q", "s", "M"))
    P = od.Parameter((4, 4), name="P")
    F = r.normal(size=(4, 2))
    semidefinite = F @ F.T
    convex = [
        od.sum_squares(Q), od.square(u), od.abs(u), od.norm1(Q, axis=1), od.norm2(u),
        od.norm2(Q, axis=0, keepdims=True), od.norm_inf(Q, axis=1), od.norm_inf(u), od.pnorm(u, 3),
        od.pnorm(Q, 1.5, axis=1), od.pnorm(u, 4 / 3), od.quad_form(u, P), od.quad_form(u, semidefinite),
        od.quad_over_lin(Q, s), od.exp(u), od.log_sum_exp(Q, axis=1), od.log_sum_exp(u), od.logistic(u),
        od.kl_div(p, q), od.kl_div(p, s), od.rel_entr(p, q), od.huber(u, 0.7), od.huber(Q), od.pos(u), od.neg(u),
        od.maximum(u, p, 0.3), od.max(Q, axis=0), od.max(u), od.power(p, 3), od.power(u, 4), od.power(u, 2),
        od.power(p, 1.5), od.power(p, -1), od.power(p, -0.5), od.inv_pos(p), od.lambda_max(M),
        od.matrix_frac(u[:3], M), od.matrix_frac(Q.T, M), od.sum_largest(u, 2), od.sum_largest(Q, 1.5, axis=1),
        od.sigma_max(Q), od.normNuc(Q), od.lambda_sum_largest(M, 2), od.lambda_sum_largest(M, 0.5),
    ]
    concave = [
        od.log(p), od.entropy(p), od.minimum(u, p), od.min(Q, axis=1), od.sqrt(p), od.power(p, 0.5),
        od.power(p, 0.3), od.power(p, 2 / 3), od.log_det(M), od.quad_form(u, -semidefinite), od.harmonic_mean(p),
    ]
    objective = sum(od.sum(e) for e in convex) - sum(od.sum(e) for e in concave)
    problem = od.Problem(od.Minimize(objective), [var[k] == v for k, v in values.items()])
    return problem, values, {"P": _spd(4, 5)}, convex, concave


def test_every_graph_form_is_tight_at_a_generic_point():
    """Minimising the atoms of pinned arguments, each stand-in equals its atom's value."""
    problem, values, params, convex, concave = _pinned_atoms()
    form = canonicalize(problem)
    A, b, c, offset = jax.jit(form.data)(params)
    x, _ = solve_conic(A, b, c, form.cones)
    offsets = {id(v): start for v, start in form.columns}
    for atom in convex + concave:
        _, t = form.stand_ins[id(atom)]
        stand_in = x[offsets[id(t)]:offsets[id(t)] + t.size].reshape(t.shape)
        exact = np.asarray(atom.evaluate({**values, **params}))
        np.testing.assert_allclose(stand_in, exact, rtol=1e-6, atol=1e-6, err_msg=str(atom))
    exact_value = float(problem.objective.expr.evaluate({**values, **params}))
    assert abs(float(form.objective_value(jnp.asarray(x), c, offset)) - exact_value) <= 1e-6 * abs(exact_value)


def test_graph_forms_are_dcp_and_have_the_atom_direction():
    _, _, _, convex, concave = _pinned_atoms()
    for atom in convex + concave:
        constraints = atom.graph_form(od.Variable(atom.shape), atom.args)
        assert constraints and all(c.is_dcp() for c in constraints), str(atom)
    assert all(a.is_convex() for a in convex) and all(a.is_concave() for a in concave)


# ----------------------------------------------------------------------------- data as a function of parameters


def _perturbed(model: Model, seed: int) -> dict[str, np.ndarray]:
    r = np.random.default_rng(seed)
    out = {}
    for name, value in model.params.items():
        value = np.asarray(value, np.float64)
        out[name] = value + 0.01 * r.normal(size=value.shape) if name != "P" else value + 0.01 * np.eye(len(value))
    return out


TRACED = [qp(), markowitz(), nearest_correlation()]


@pytest.mark.parametrize("model", TRACED, ids=lambda m: m.name)
def test_data_under_jit_and_vmap(model: Model):
    form = canonicalize(model.problem)
    sets = [_perturbed(model, seed) for seed in range(4)]
    stacked = {name: np.stack([s[name] for s in sets]) for name in model.params}
    batched = jax.jit(jax.vmap(form.data))(stacked)
    single = jax.jit(form.data)
    for i, params in enumerate(sets):
        for got, expected in zip(batched, single(params)):
            np.testing.assert_allclose(got[i], expected, rtol=1e-12, atol=1e-12)
    A, b, c, offset = single(model.params)
    assert A.shape == (form.cones.dim, form.size) and b.shape == (form.cones.dim,)
    assert c.shape == (form.size,) and offset.shape == ()


@pytest.mark.parametrize("model", TRACED, ids=lambda m: m.name)
def test_data_gradients_match_central_differences(model: Model):
    """A random linear functional of (A, b, c, offset): its gradient in every parameter against central differences."""
    form = canonicalize(model.problem)
    r = np.random.default_rng(11)
    m, n = form.cones.dim, form.size
    WA, wb, wc = r.normal(size=(m, n)), r.normal(size=m), r.normal(size=n)

    @jax.jit
    def g(params):
        A, b, c, offset = form.data(params)
        return jnp.sum(WA * A) + wb @ b + wc @ c + offset

    params = {k: jnp.asarray(v, jnp.float64) for k, v in model.params.items()}
    grads = jax.grad(g)(params)
    for name, value in params.items():
        direction = r.normal(size=value.shape)
        if name == "P":
            direction = direction + direction.T
        eps = 1e-6
        plus = g({**params, name: value + eps * direction})
        minus = g({**params, name: value - eps * direction})
        fd = (plus - minus) / (2 * eps)
        assert abs(float(jnp.sum(grads[name] * direction)) - float(fd)) <= 1e-6 * max(1.0, abs(float(fd))), name


def test_float32_parameters_give_float32_data():
    model = qp()
    form = canonicalize(model.problem)
    data32 = jax.jit(form.data)({k: np.asarray(v, np.float32) for k, v in model.params.items()})
    data64 = jax.jit(form.data)(model.params)
    for got, expected in zip(data32, data64):
        assert got.dtype == jnp.float32
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    x, _ = solve_conic(*data32[:3], form.cones)
    reference, variables, _ = _reference(model)
    np.testing.assert_allclose(form.variables(jnp.asarray(x))["x"], variables["x"].value, atol=1e-4)


# ----------------------------------------------------------------------------------------------------- errors


class _SoftAbs(od.modeling.atom.Elementwise):
    """A convex atom without a graph form (for the error test)."""

    name = "soft_abs"

    def sign_from_args(self):
        return od.Sign.NONNEG

    def is_atom_convex(self):
        return True

    def is_atom_concave(self):
        return False

    def monotonicity(self, index):
        return od.Monotonicity.NONE

    def forward(self, x):
        return jnp.sqrt(1 + x**2)


def test_clear_errors():
    x = od.Variable(3, name="x")
    with pytest.raises(DCPError):
        canonicalize(od.Problem(od.Minimize(od.sum(od.sqrt(x)))))
    with pytest.raises(CompileError, match="expects a Problem"):
        canonicalize(od.Minimize(od.sum(x)))
    a = od.Parameter(3, name="a")
    form = canonicalize(od.Problem(od.Minimize(a @ x), [od.norm2(x) <= 1]))
    with pytest.raises(ParameterError, match=r"missing parameters \['a'\]"):
        form.data({})
    with pytest.raises(ParameterError, match=r"'a' has shape \(2,\), expected \(3,\)"):
        form.data({"a": np.ones(2)})


def test_only_non_convex_atoms_lack_a_graph_form():
    """Every atom DCP can accept has a graph form; the non-convex ones keep ``Atom``'s default, None."""
    x = od.Variable(3, name="x")
    _, without = _with_graph_form()
    atoms = [a(x) for a in without]
    assert atoms and not any(a.is_atom_convex() or a.is_atom_concave() for a in atoms), [str(a) for a in atoms]
    assert all(a.graph_form(od.Variable(a.shape), (x,)) is None for a in atoms)


def test_an_atom_without_a_graph_form_is_a_clear_error_on_the_conic_route():
    """The error names the sub-expression and the atom, from ``canonicalize`` and from ``compile``."""
    x = od.Variable(3, name="x")
    problem = od.Problem(od.Minimize(od.sum(_SoftAbs(x - 1))), [x >= 0])
    message = r"the conic lowering cannot handle soft_abs\(x - 1\): the atom soft_abs has no graph form"
    with pytest.raises(CompileError, match=message):
        canonicalize(problem)
    with pytest.raises(CompileError, match=message):
        problem.compile(method="conic")


def test_variable_signs_and_layout():
    """nonneg / nonpos variables become non-negative rows; user variables come first, packed as Packing packs them."""
    x, y = od.Variable(2, name="x", nonneg=True), od.Variable(name="y", nonpos=True)
    form = canonicalize(od.Problem(od.Minimize(od.sum_squares(x - 3) - y), [x[0] + y <= 2]))
    assert form.packing.names == ("x", "y") and [off for _, off in form.columns[:2]] == [0, 2]
    A, b, c, offset = jax.jit(form.data)({})
    x_opt, y_opt = solve_conic(A, b, c, form.cones)
    values = form.variables(jnp.asarray(x_opt))
    # min (x0 - 3)^2 + t over x0 = 2 + t (y = -t <= 0): t = 1/2
    np.testing.assert_allclose(values["x"], [2.5, 3.0], atol=1e-6)
    np.testing.assert_allclose(values["y"], -0.5, atol=1e-6)
    assert form.cones.nonneg == 1 + 2 + 1 and form.cones.soc == (4,)  # the constraint, x >= 0, y <= 0
    assert "conic form" in form.summary()


@pytest.mark.parametrize("name", ["optdsl.compiler.conic", "optdsl.compiler.conic.canonical",
                                  "optdsl.compiler.conic.form", "optdsl.compiler.conic.blocks",
                                  "optdsl.modeling.atoms.power", "optdsl.modeling.atoms.square"])
def test_doctests(name: str):
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0


# ------------------------------------------------------------------ end to end through the runtime's conic solver


def mixed_cones() -> Model:
    """Every cone at once: entropy (exp), an active and an inactive SOC, a PSD matrix, equalities."""
    r = np.random.default_rng(21)
    M = r.normal(size=(3, 3))
    C0, F1, F2 = (M + M.T) / 2 + np.eye(3), r.normal(size=(4, 2)), r.normal(size=(4, 2))
    X, p = od.Variable((3, 3), name="X"), od.Variable(4, name="p")
    C, q, sigma = od.Parameter((3, 3), name="C"), od.Parameter(4, name="q"), od.Parameter(nonneg=True, name="sigma")
    problem = od.Problem(od.Maximize(od.sum(od.entropy(p)) + q @ p - od.norm(X - C, "fro")),
                         [X >> 0, od.diag(X) == 1, od.sum(p) == 1, od.norm2(F1.T @ p) <= sigma,
                          od.norm2(F2.T @ p) <= 10])

    def reference(par):
        Xc, pc = cp.Variable((3, 3), symmetric=True), cp.Variable(4)
        cons = [Xc >> 0, cp.diag(Xc) == 1, cp.sum(pc) == 1, cp.norm(F1.T @ pc) <= par["sigma"],
                cp.norm(F2.T @ pc) <= 10]
        obj = cp.Maximize(cp.sum(cp.entr(pc)) + par["q"] @ pc - cp.norm(Xc - par["C"], "fro"))
        return cp.Problem(obj, cons), {"X": Xc, "p": pc}, dict(zip(["c0", "c1", "c2", "c3", "c4"], cons))

    params = {"C": C0, "q": r.normal(size=4), "sigma": np.array(0.5)}
    return Model("mixed_cones", problem, params, reference)


def test_end_to_end_through_solve_conic_diff():
    """data -> solve_conic_diff: solution and duals vs cvxpy; gradients in every parameter vs central differences."""
    from optdsl.runtime.solvers.conic_diff import solve_conic_diff
    from optdsl.runtime.status import SOLVED

    model = mixed_cones()
    form = canonicalize(model.problem)

    @jax.jit
    def solve(params):
        A, b, c, offset = form.data(params)
        point, info = solve_conic_diff(A, b, c, form.cones)
        return form.variables(point.x), form.duals(point.y), form.objective_value(point.x, c, offset), info.status

    values, duals, value, status = solve(model.params)
    reference, variables, constraints = _reference(model)
    assert int(status) == SOLVED
    assert abs(float(value) - reference.value) <= 1e-6 * max(1.0, abs(reference.value))
    for name, variable in variables.items():
        np.testing.assert_allclose(values[name], variable.value, atol=1e-6, err_msg=name)
    for name, constraint in constraints.items():
        expected = _cvxpy_dual(constraint)
        np.testing.assert_allclose(duals[name], expected, atol=1e-6 * max(1.0, np.abs(expected).max()), err_msg=name)
    assert abs(float(duals["c3"])) > 1e-3 and abs(float(duals["c4"])) < 1e-8  # one SOC active, one not

    r = np.random.default_rng(5)
    wX, wp = r.normal(size=(3, 3)), r.normal(size=4)

    def loss(params):  # of the solution, the objective and a dual (reuses the compiled solve)
        values, duals, value, _ = solve(params)
        return jnp.sum(wX * values["X"]) + wp @ values["p"] + value + duals["c3"]

    params = {k: jnp.asarray(v) for k, v in model.params.items()}
    grads = jax.jit(jax.grad(loss))(params)
    for name, value in params.items():
        direction = r.normal(size=value.shape)
        direction = (direction + direction.T) / 2 if name == "C" else direction
        eps = 1e-5
        fd = (loss({**params, name: value + eps * direction}) - loss({**params, name: value - eps * direction})) / (2 * eps)
        assert abs(float(jnp.sum(grads[name] * direction)) - float(fd)) <= 1e-5 * max(1.0, abs(float(fd))), name
