"""Seeded random model families for ``tests/test_reliability.py``, each written once for optdsl and for cvxpy.

A family is one model with parameters, built by one function from either library (``od`` or :data:`CVXPY`,
a namespace with optdsl's names for the cvxpy atoms), so the optdsl model and its cvxpy + Clarabel reference are
the same model by construction. An instance is a set of parameter values and the kind of data it is
(feasible, degenerate, badly scaled, infeasible, unbounded, ...): every instance of a family shares one compiled
solver per route, and a route solves all of them as one ``jax.vmap`` batch.

:func:`solve_routes` solves a family's instances on its routes, :func:`judge` classifies every answer against
the reference (:func:`classify`), :func:`run_family` does both, and :func:`table` prints the counts per family and
route.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np

import optdsl as od
from optdsl.compiler.compile import METHODS
from optdsl.errors import CompileError, OptDSLError
from optdsl.runtime.status import describe

CLARABEL = {"solver": "CLARABEL", "tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}
#: Clarabel; where it stops short of optimal (as at some cone apexes), Clarabel with looser gap tolerances; then SCS.
REFERENCE_SOLVERS = (CLARABEL,
                     {"solver": "CLARABEL", "tol_gap_abs": 1e-9, "tol_gap_rel": 1e-9, "tol_feas": 1e-9,
                      "tol_ktratio": 1e-7},
                     {"solver": "SCS", "eps_abs": 1e-10, "eps_rel": 1e-10, "max_iters": 200_000})
#: Objective agreement asked of a "solved" answer: |ours - reference| <= OBJECTIVE_TOL * (1 + |reference|).
OBJECTIVE_TOL = 1e-5
#: Largest relative constraint violation (|gap| / (1 + largest |side|)) of a "solved" point. The library certifies
#: its own points at sqrt(tol) = 1e-5 on a similar measure; ten times that leaves room for the two measures to differ
#: in rounding, never for a point that is really infeasible.
VIOLATION_TOL = 1e-4
#: The default route, then every method (each family runs on those that apply to it).
ROUTES: tuple[str | None, ...] = (None, *METHODS)
#: Routes whose solvers find infeasibility / unboundedness certificates themselves.
CERTIFYING_ROUTES = ("kkt", "conic")

#: cvxpy under optdsl's names, so one model function builds both models.
CVXPY = SimpleNamespace(
    Variable=cp.Variable, Parameter=cp.Parameter, Problem=cp.Problem, Minimize=cp.Minimize, Maximize=cp.Maximize,
    SOC=cp.SOC, sum=cp.sum, sum_squares=cp.sum_squares, norm1=cp.norm1, norm2=lambda x: cp.norm(x, 2),
    norm_inf=cp.norm_inf, huber=cp.huber, entropy=cp.entr, log=cp.log, log_det=cp.log_det, trace=cp.trace,
    multiply=cp.multiply, square=cp.square, max=cp.max, min=cp.min, pos=cp.pos, abs=cp.abs, exp=cp.exp,
    log_sum_exp=cp.log_sum_exp, logistic=cp.logistic, quad_over_lin=cp.quad_over_lin, pnorm=cp.pnorm,
    sum_largest=cp.sum_largest, inv_pos=cp.inv_pos, entr=cp.entr, sqrt=cp.sqrt, geo_mean=cp.geo_mean,
    kl_div=cp.kl_div, power=cp.power, harmonic_mean=cp.harmonic_mean, rel_entr=cp.rel_entr,
)

Params = dict[str, np.ndarray]


@dataclass(frozen=True)
class Instance:
    """Parameter values of one instance, and what its construction makes it: ``expected`` status (optimal,
    infeasible or unbounded); ``visibly_infeasible`` when the values alone show the feasible set is empty."""

    kind: str
    params: Params
    visibly_infeasible: bool = False
    expected: str = "optimal"


@dataclass
class Family:
    """A model with parameters, its cvxpy twin, and how to draw instances of each kind."""

    name: str
    model: Callable[[Any], Any]
    draw: Callable[[np.random.Generator, str], Instance]
    kinds: tuple[str, ...]
    problem: od.Problem = field(init=False)
    reference: cp.Problem = field(init=False)

    def __post_init__(self) -> None:
        self.problem = self.model(od)
        self.reference = self.model(CVXPY)

    def instance(self, rng: np.random.Generator, i: int) -> Instance:
        """The ``i``-th instance of a seeded sequence (kinds in turn)."""
        return self.draw(rng, self.kinds[i % len(self.kinds)])

    def instances(self, count: int, seed: int) -> list[Instance]:
        rng = np.random.default_rng(seed)
        return [self.instance(rng, i) for i in range(count)]


# ---- reference and classification -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reference:
    """The reference's status (optimal, infeasible, unbounded or unknown) and its optimal value."""

    status: str
    value: float


def solve_reference(reference: cp.Problem, params: Params) -> Reference:
    """cvxpy on one instance's parameter values: Clarabel, then (where it stops short of optimal, as it does at
    some cone apexes) Clarabel with looser gap tolerances, then SCS to 1e-10.

    A certificate Clarabel calls inaccurate still names the status (the instance's construction is checked
    against it, see :func:`classify`); an optimum no solver reaches is unknown.
    """
    for p in reference.parameters():
        p.value = params[p.name()]
    names = {cp.OPTIMAL: "optimal", cp.INFEASIBLE: "infeasible", cp.UNBOUNDED: "unbounded",
             cp.INFEASIBLE_INACCURATE: "infeasible", cp.UNBOUNDED_INACCURATE: "unbounded"}
    for options in REFERENCE_SOLVERS:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "solution may be inaccurate": read from the status
                reference.solve(**options)
        except cp.SolverError:
            continue
        if reference.status != cp.OPTIMAL_INACCURATE:
            break
    status = names.get(reference.status, "unknown")
    return Reference(status, float(reference.value) if status == "optimal" else float("nan"))


def relative_violation(constraint: cp.constraints.constraint.Constraint) -> float:
    """cvxpy's violation of one constraint at the variables' current values, relative to the size of its sides."""
    gap = np.max(np.abs(np.atleast_1d(constraint.violation())), initial=0.0)
    size = max(np.max(np.abs(np.atleast_1d(a.value)), initial=0.0) for a in constraint.args)
    return float(gap / (1.0 + size))


def evaluate_point(reference: cp.Problem, values: dict[str, np.ndarray]) -> tuple[float, float]:
    """The objective and the largest relative constraint violation of cvxpy's model at our values (NaN and
    infinity at non-finite values, which cvxpy does not take; NaN outside the objective's domain)."""
    if not all(np.isfinite(v).all() for v in values.values()):
        return float("nan"), float("inf")
    for v in reference.variables():
        v.value = values[v.name()]
    with np.errstate(all="ignore"):
        objective = reference.objective.value
        violation = max((relative_violation(c) for c in reference.constraints), default=0.0)
    return float(np.nan if objective is None else objective), violation


@dataclass(frozen=True)
class Outcome:
    """One answer judged: ``correct``, ``wrong``, ``not_solved``, ``infeasible_as_inaccurate`` or ``unjudged``."""

    label: str
    reason: str = ""


def classify(ref: Reference, instance: Instance, status: str, objective: float, point_objective: float,
             violation: float) -> Outcome:
    """Judge one answer against the reference.

    Wrong: "solved" when the reference is infeasible or unbounded, or with an objective (reported, or of cvxpy's
    model at our point) off by more than OBJECTIVE_TOL relative, or at a point violating a constraint by more than
    VIOLATION_TOL; a certificate (infeasible / unbounded) the reference contradicts. Not solved: any other status
    (max_iterations, numerical_error, inaccurate) -- counted apart as ``infeasible_as_inaccurate`` when the
    parameter values alone show the feasible set is empty and we said "inaccurate" instead of "infeasible".
    Unjudged: the reference's status is unknown or contradicts the instance's construction.
    """
    if ref.status != instance.expected:
        return Outcome("unjudged", f"reference {ref.status}, built {instance.expected}")
    if status == "solved":
        if ref.status != "optimal":
            return Outcome("wrong", f"solved, reference {ref.status}")
        tol = OBJECTIVE_TOL * (1.0 + abs(ref.value))
        if not abs(objective - ref.value) <= tol:
            return Outcome("wrong", f"objective {objective:.10g} vs reference {ref.value:.10g}")
        if not abs(point_objective - ref.value) <= tol:
            return Outcome("wrong", f"objective at our point {point_objective:.10g} vs reference {ref.value:.10g}")
        if not violation <= VIOLATION_TOL:
            return Outcome("wrong", f"relative constraint violation {violation:.2e}")
        return Outcome("correct")
    if status in ("infeasible", "unbounded"):
        if ref.status != status:
            return Outcome("wrong", f"{status}, reference {ref.status}")
        return Outcome("correct")
    if ref.status == "infeasible" and instance.visibly_infeasible and status == "inaccurate":
        return Outcome("infeasible_as_inaccurate", status)
    return Outcome("not_solved", status)


def expects_answer(route_method: str, ref: Reference, instance: Instance) -> bool:
    """Whether a route owes a definite answer: a solution when there is one, and "infeasible" / "unbounded" from
    routes with certificates, or "infeasible" when the parameter values alone show it."""
    if ref.status != instance.expected:
        return False
    return ref.status == "optimal" or route_method in CERTIFYING_ROUTES or instance.visibly_infeasible


# ---- running a family -------------------------------------------------------------------------------------------

@dataclass
class RouteReport:
    """Counts for one family on one route, with the instances that were not answered correctly.

    ``missed``: instances the route owed a definite answer (:func:`expects_answer`) and did not give, wrong
    answers apart.
    """

    family: str
    route: str
    method: str
    n: int = 0
    correct: int = 0
    wrong: int = 0
    infeasible_as_inaccurate: int = 0
    unjudged: int = 0
    not_solved: Counter = field(default_factory=Counter)
    missed: int = 0
    failures: list[str] = field(default_factory=list)
    note: str = ""

    def add(self, i: int, instance: Instance, ref: Reference, outcome: Outcome, expected: bool) -> None:
        self.n += 1
        if outcome.label == "correct":
            self.correct += 1
            return
        if outcome.label == "wrong":
            self.wrong += 1
        elif outcome.label == "infeasible_as_inaccurate":
            self.infeasible_as_inaccurate += 1
        elif outcome.label == "unjudged":
            self.unjudged += 1
        else:
            self.not_solved[outcome.reason] += 1
        self.missed += expected and outcome.label != "wrong"
        self.failures.append(f"{self.family}/{self.route} #{i} ({instance.kind}, reference {ref.status}): "
                             f"{outcome.label} {outcome.reason}")


def solve_batch(solve: Any, instances: list[Instance]) -> Any:
    """One vmapped solve of all instances (parameters stacked along a leading axis), as numpy."""
    batch = {k: jnp.stack([jnp.asarray(inst.params[k]) for inst in instances]) for k in instances[0].params}
    return jax.tree_util.tree_map(np.asarray, jax.jit(jax.vmap(solve))(batch))


@dataclass(frozen=True)
class RouteResult:
    """One route's batch: the method it compiled to and the batched Solution, or the error its solve raised, or a
    note why it was not run (the method does not apply, or compiles to a lowering already run)."""

    route: str
    method: str
    solutions: Any = None
    error: str = ""
    note: str = ""


def solve_routes(family: Family, instances: list[Instance], routes: tuple[str | None, ...] = ROUTES
                 ) -> list[RouteResult]:
    """Solve the instances on each route (``None``: the default) as one vmapped batch.

    A method that does not apply to the model (a CompileError) is noted, not run, as is one that compiles to a
    lowering already run (``proximal_gradient`` on a projection model is the projected gradient); a batch that
    raises is kept as its error. The default route always applies.
    """
    results: list[RouteResult] = []
    for route in routes:
        label = "default" if route is None else route
        try:
            solve = family.problem.compile(method=route)
        except CompileError:
            if route is None:
                raise
            results.append(RouteResult(label, "-", note="CompileError: does not apply"))
            continue
        same = [r.route for r in results if r.method == solve.method]
        if same:
            results.append(RouteResult(label, solve.method, note=f"the same lowering as {same[0]}"))
            continue
        try:
            results.append(RouteResult(label, solve.method, solve_batch(solve, instances)))
        except OptDSLError as error:
            results.append(RouteResult(label, solve.method, error=f"{type(error).__name__}: {error}"))
    return results


def judge(family: Family, instances: list[Instance], results: list[RouteResult]) -> list[RouteReport]:
    """Classify every route's answer on every instance against one reference solve per instance."""
    reports = [RouteReport(family.name, r.route, r.method, note=r.note) for r in results]
    for i, instance in enumerate(instances):
        ref = solve_reference(family.reference, instance.params)
        for result, report in zip(results, reports):
            if result.note:
                continue
            if result.error:
                outcome = Outcome("not_solved", f"raised {result.error.splitlines()[0][:120]}")
            else:
                sols = result.solutions
                point_objective, violation = evaluate_point(family.reference,
                                                            {k: v[i] for k, v in sols.values.items()})
                outcome = classify(ref, instance, describe(int(sols.status[i])), float(sols.objective[i]),
                                   point_objective, violation)
            report.add(i, instance, ref, outcome, expects_answer(result.method, ref, instance))
    return reports


def run_family(family: Family, count: int, seed: int, routes: tuple[str | None, ...] = ROUTES) -> list[RouteReport]:
    """``count`` seeded instances of a family solved on ``routes`` and judged."""
    instances = family.instances(count, seed)
    return judge(family, instances, solve_routes(family, instances, routes))


def table(reports: list[RouteReport]) -> str:
    """The counts per family and route, one line each; then, per family, the routes not run and why."""
    head = (f"{'family':20s} {'route':18s} {'method':18s} {'n':>4s} {'correct':>7s} {'WRONG':>5s} "
            f"{'inf->inacc':>10s} {'missed':>6s}  not solved (by status)")
    lines = [head, "-" * len(head)]
    for family in dict.fromkeys(r.family for r in reports):
        notes: dict[str, list[str]] = {}
        for r in (r for r in reports if r.family == family):
            if r.note:
                notes.setdefault(r.note, []).append(r.route)
                continue
            statuses = ", ".join(f"{k}: {v}" for k, v in sorted(r.not_solved.items())) or "-"
            unjudged = f"; unjudged (no reference agrees with the construction): {r.unjudged}" if r.unjudged else ""
            lines.append(f"{r.family:20s} {r.route:18s} {r.method:18s} {r.n:4d} {r.correct:7d} {r.wrong:5d} "
                         f"{r.infeasible_as_inaccurate:10d} {r.missed:6d}  {statuses}{unjudged}")
        if notes:
            lines.append(f"{'':20s} not run: " + "; ".join(f"{', '.join(routes)} ({note})"
                                                           for note, routes in notes.items()))
    return "\n".join(lines)


# ---- data helpers -----------------------------------------------------------------------------------------------

def _row_scales(rng: np.random.Generator, m: int, decades: float = 3.0) -> np.ndarray:
    """Row scales 10**U(-decades, decades)."""
    return 10.0 ** rng.uniform(-decades, decades, m)


def _null_direction(rng: np.random.Generator, M: np.ndarray) -> np.ndarray:
    """A random unit vector in the null space of ``M``."""
    _, s, vt = np.linalg.svd(M)
    rank = int((s > 1e-10 * s[0]).sum())
    d = vt[rank:].T @ rng.normal(size=vt.shape[0] - rank)
    return d / np.linalg.norm(d)


def _conditioned(rng: np.random.Generator, n: int, low: float = 0.5, high: float = 2.0) -> np.ndarray:
    """A random square matrix with singular values in [low, high]."""
    u, _, vt = np.linalg.svd(rng.normal(size=(n, n)))
    return u @ np.diag(rng.uniform(low, high, n)) @ vt


def _spd(rng: np.random.Generator, eigenvalues: np.ndarray) -> np.ndarray:
    """A random symmetric matrix with the given eigenvalues."""
    q, _ = np.linalg.qr(rng.normal(size=(len(eigenvalues), len(eigenvalues))))
    return q @ np.diag(eigenvalues) @ q.T


def _maybe_empty(kind: str, params: Params, empty: bool) -> Instance:
    """An instance of a projection-set family: infeasible exactly when the parameter values make a set empty."""
    return Instance(kind, params, empty, "infeasible" if empty else "optimal")


def _nonneg(lib: Any) -> dict[str, bool]:
    """The ``nonneg`` attribute for optdsl; cvxpy's twin states ``x >= 0`` as a constraint instead, so that
    a point with a negative entry is measured as a violation (cvxpy refuses such a value for a nonneg variable)."""
    return {"nonneg": True} if lib is od else {}


# ---- LPs and QPs ------------------------------------------------------------------------------------------------

LP_N, LP_M = 6, 8
#: The status the LP, QP and SOCP kinds are built to have (the others are optimal).
_LP_EXPECTED = {"infeasible_equalities": "infeasible", "infeasible_inequalities": "infeasible",
                "infeasible_linear": "infeasible", "infeasible_cone": "infeasible", "unbounded": "unbounded"}


def _lp_model(lib: Any) -> Any:
    x = lib.Variable(LP_N, name="x")
    c, G, h = lib.Parameter(LP_N, name="c"), lib.Parameter((LP_M, LP_N), name="G"), lib.Parameter(LP_M, name="h")
    A, b = lib.Parameter((3, LP_N), name="A"), lib.Parameter(3, name="b")
    return lib.Problem(lib.Minimize(c @ x), [G @ x <= h, A @ x == b])


def _duplicated_equalities(rng: np.random.Generator, n: int, x0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Three equality rows, the third a multiple of the first (rank 2), consistent at ``x0``."""
    A = rng.normal(size=(3, n))
    A[2] = rng.uniform(-2.0, 2.0) * A[0] + (A[0] == 0)
    return A, A @ x0


def _polyhedral_data(rng: np.random.Generator, kind: str, n: int, m: int, active: int, positive: int,
                     F: np.ndarray | None = None) -> Params:
    """Data of ``min 0.5 |F x|^2 + c.x`` (``F`` None: an LP) over ``G x <= h`` (``m`` rows) and ``A x == b`` (three
    rows, the third a multiple of the first).

    Optimal kinds have a degenerate optimum at a random x0: ``active`` inequality rows tight there, multipliers
    positive on the first ``positive`` of them only, and ``c`` from the KKT conditions. ``scaled_rows`` rescales
    the rows over six decades; ``infeasible_equalities`` gives the duplicated row another right-hand side;
    ``infeasible_inequalities`` makes row 1 ask ``g.x >= h0 + 1`` against row 0's ``g.x <= h0``; ``unbounded``
    makes a recession direction ``d`` (``F d = 0``, ``A d = 0``, ``G d <= 0``) along which ``c`` decreases.
    """
    x0 = rng.normal(size=n)
    A, b = _duplicated_equalities(rng, n, x0)
    G = rng.normal(size=(m, n))
    slack = np.where(np.arange(m) < active, 0.0, rng.uniform(0.1, 1.0, m))
    lam = np.where(np.arange(m) < positive, rng.uniform(0.5, 2.0, m), 0.0)
    hessian = np.zeros((n, n)) if F is None else F.T @ F
    c = -(hessian @ x0 + G.T @ lam + A.T @ rng.normal(size=3))
    if kind == "unbounded":
        flat = A if F is None else np.vstack([F, A])
        d = _null_direction(rng, flat)
        G = np.where((G @ d > 0)[:, None], -G, G)
        c = -d + flat.T @ rng.normal(size=len(flat))
    h = G @ x0 + slack
    if kind == "infeasible_equalities":
        b[2] += 1.0
    if kind == "infeasible_inequalities":
        G[1], h[1] = -G[0], -h[0] - 1.0
    if kind == "scaled_rows":
        sg, sa = _row_scales(rng, m), _row_scales(rng, 3)
        G, h, A, b = G * sg[:, None], h * sg, A * sa[:, None], b * sa
    return {"c": c, "G": G, "h": h, "A": A, "b": b}


def _lp_draw(rng: np.random.Generator, kind: str) -> Instance:
    """An LP whose optimum is a degenerate vertex: five rows active where four make a vertex (with the two
    independent equalities), multipliers positive on three of them only, so the dual is degenerate too."""
    return Instance(kind, _polyhedral_data(rng, kind, LP_N, LP_M, active=5, positive=3),
                    expected=_LP_EXPECTED.get(kind, "optimal"))


QP_N, QP_M = 6, 6


def _qp_model(lib: Any) -> Any:
    x = lib.Variable(QP_N, name="x")
    F, c = lib.Parameter((3, QP_N), name="F"), lib.Parameter(QP_N, name="c")
    G, h = lib.Parameter((QP_M, QP_N), name="G"), lib.Parameter(QP_M, name="h")
    A, b = lib.Parameter((3, QP_N), name="A"), lib.Parameter(3, name="b")
    return lib.Problem(lib.Minimize(0.5 * lib.sum_squares(F @ x) + c @ x), [G @ x <= h, A @ x == b])


def _qp_draw(rng: np.random.Generator, kind: str) -> Instance:
    """A QP with a rank-3 Hessian F'F in 6 variables, three rows active at the optimum, two with multipliers."""
    F = rng.normal(size=(3, QP_N))
    params = {"F": F, **_polyhedral_data(rng, kind, QP_N, QP_M, active=3, positive=2, F=F)}
    return Instance(kind, params, expected=_LP_EXPECTED.get(kind, "optimal"))


def _least_squares(m: int, n: int) -> Callable[[Any], Any]:
    def model(lib: Any) -> Any:
        x = lib.Variable(n, name="x")
        A, b = lib.Parameter((m, n), name="A"), lib.Parameter(m, name="b")
        return lib.Problem(lib.Minimize(lib.sum_squares(A @ x - b)))

    return model


def _least_squares_draw(m: int, n: int) -> Callable[[np.random.Generator, str], Instance]:
    """Gaussian data, rows scaled over six decades, a duplicated column (rank-deficient), or the last row
    repeating the first with another right-hand side."""

    def draw(rng: np.random.Generator, kind: str) -> Instance:
        A, b = rng.normal(size=(m, n)), rng.normal(size=m)
        if kind == "scaled_rows":
            s = _row_scales(rng, m)
            A, b = A * s[:, None], b * s
        if kind == "duplicate_column":
            A[:, -1] = rng.uniform(0.5, 2.0) * A[:, 0]
        if kind == "duplicate_row":
            A[-1], b[-1] = A[0], b[0] + rng.uniform(-1.0, 1.0)
        return Instance(kind, {"A": A, "b": b})

    return draw


# ---- smooth objectives over the projection sets -----------------------------------------------------------------

def _box_simplex_model(lib: Any) -> Any:
    x, p = lib.Variable(4, name="x"), lib.Variable(5, name="p")
    M, y, K, z = (lib.Parameter((4, 4), name="M"), lib.Parameter(4, name="y"), lib.Parameter((5, 5), name="K"),
                  lib.Parameter(5, name="z"))
    lo, hi, r = lib.Parameter(4, name="lo"), lib.Parameter(4, name="hi"), lib.Parameter(name="r")
    objective = lib.sum_squares(M @ x - y) + lib.sum_squares(K @ p - z)
    return lib.Problem(lib.Minimize(objective), [x >= lo, x <= hi, p >= 0, lib.sum(p) == r])


def _box_simplex_draw(rng: np.random.Generator, kind: str) -> Instance:
    """A box (crossed in one coordinate, or pinned lo == hi) and a simplex of sum r (negative: empty; zero: {0}),
    under well-conditioned least-squares objectives."""
    lo = rng.uniform(-1.5, 0.0, 4)
    hi = lo + rng.uniform(0.0, 2.0, 4)
    r = rng.uniform(0.2, 3.0)
    if kind == "box_crossed":
        j = rng.integers(4)
        hi[j] = lo[j] - rng.uniform(0.01, 1.0)
    if kind == "box_pinned":  # some coordinates fixed: lo == hi
        hi[:2] = lo[:2]
    if kind == "simplex_negative_sum":
        r = -rng.uniform(0.01, 2.0)
    if kind == "simplex_zero_sum":
        r = 0.0
    params = {"M": _conditioned(rng, 4), "y": 2 * rng.normal(size=4), "K": _conditioned(rng, 5),
              "z": rng.normal(size=5), "lo": lo, "hi": hi, "r": np.asarray(r)}
    return _maybe_empty(kind, params, kind in ("box_crossed", "simplex_negative_sum"))


def _simplex_rows_model(lib: Any) -> Any:
    P, Q = lib.Variable((2, 3), name="P"), lib.Variable((3, 2), name="Q")
    M, Y, Z = lib.Parameter((2, 2), name="M"), lib.Parameter((2, 3), name="Y"), lib.Parameter((3, 2), name="Z")
    r, s = lib.Parameter(2, name="r"), lib.Parameter(2, name="s")
    objective = lib.sum_squares(M @ P - Y) + lib.sum_squares(Q - Z)
    return lib.Problem(lib.Minimize(objective), [P >= 0, lib.sum(P, axis=1) == r, Q >= 0, lib.sum(Q, axis=0) == s])


def _simplex_rows_draw(rng: np.random.Generator, kind: str) -> Instance:
    """Row-wise (P) and column-wise (Q) simplices with sums r and s: a negative sum empties the set, a zero sum
    pins that row (column) at 0."""
    r, s = rng.uniform(0.2, 2.0, 2), rng.uniform(0.2, 2.0, 2)
    if kind == "negative_row_sum":
        r[rng.integers(2)] = -rng.uniform(0.01, 1.0)
    if kind == "negative_column_sum":
        s[rng.integers(2)] = -rng.uniform(0.01, 1.0)
    if kind == "zero_sums":
        r[0], s[1] = 0.0, 0.0
    params = {"M": _conditioned(rng, 2), "Y": rng.normal(size=(2, 3)), "Z": rng.normal(size=(3, 2)), "r": r, "s": s}
    return _maybe_empty(kind, params, kind.startswith("negative"))


def _box_section_model(lib: Any) -> Any:
    y, w = lib.Variable(6, name="y"), lib.Variable(4, name="w")
    M, t, u = lib.Parameter((6, 6), name="M"), lib.Parameter(6, name="t"), lib.Parameter(4, name="u")
    lo, hi, r = lib.Parameter(6, name="lo"), lib.Parameter(6, name="hi"), lib.Parameter(name="r")
    objective = lib.sum_squares(M @ y - t) + lib.sum_squares(w - u)
    return lib.Problem(lib.Minimize(objective), [y >= lo, y <= hi, lib.sum(y) == r, w >= 0])


def _box_section_draw(rng: np.random.Generator, kind: str) -> Instance:
    """A box section (sum r inside [sum lo, sum hi], at its upper end: one point, or outside: empty) and a
    nonnegative orthant."""
    lo = rng.uniform(-1.0, 0.5, 6)
    hi = lo + rng.uniform(0.1, 1.5, 6)
    r = rng.uniform(lo.sum(), hi.sum())
    if kind == "sum_at_upper_end":  # a single feasible point, y = hi
        r = hi.sum()
    if kind == "sum_above":
        r = hi.sum() + rng.uniform(0.01, 2.0)
    if kind == "sum_below":
        r = lo.sum() - rng.uniform(0.01, 2.0)
    params = {"M": _conditioned(rng, 6), "t": 2 * rng.normal(size=6), "u": rng.normal(size=4), "lo": lo, "hi": hi,
              "r": np.asarray(r)}
    return _maybe_empty(kind, params, kind in ("sum_above", "sum_below"))


def _planes_model(lib: Any) -> Any:
    u, v, s = lib.Variable(4, name="u"), lib.Variable(4, name="v"), lib.Variable(3, name="s")
    M, y = lib.Parameter((4, 4), name="M"), lib.Parameter(4, name="y")
    z, k = lib.Parameter(4, name="z"), lib.Parameter(3, name="k")
    a, beta = lib.Parameter(4, name="a"), lib.Parameter(name="beta")
    g, gamma, rho = lib.Parameter(4, name="g"), lib.Parameter(name="gamma"), lib.Parameter(name="rho")
    objective = lib.sum_squares(M @ u - y) + lib.sum_squares(v - z) + lib.sum_squares(s - k)
    return lib.Problem(lib.Minimize(objective), [a @ u == beta, g @ v <= gamma, lib.sum(s) == rho])


def _planes_draw(rng: np.random.Generator, kind: str) -> Instance:
    """A hyperplane a.u == beta, a halfspace g.v <= gamma and sum(s) == rho; a zero normal empties the hyperplane
    (beta != 0) and the halfspace (gamma < 0), or makes the halfspace everything (gamma >= 0)."""
    a, g = rng.normal(size=4), rng.normal(size=4)
    beta, gamma, rho = rng.normal(), rng.normal(), rng.normal()
    if kind == "hyperplane_zero_normal":  # 0 @ u == beta != 0
        a, beta = np.zeros(4), rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 2.0)
    if kind == "halfspace_zero_normal":  # 0 @ v <= gamma < 0
        g, gamma = np.zeros(4), -rng.uniform(0.1, 2.0)
    if kind == "halfspace_zero_normal_feasible":  # 0 @ v <= gamma >= 0: every v
        g, gamma = np.zeros(4), rng.uniform(0.0, 2.0)
    if kind == "scaled_normals":
        a, g = a * 10.0 ** rng.uniform(-3, 3), g * 10.0 ** rng.uniform(-3, 3)
    params = {"M": _conditioned(rng, 4), "y": rng.normal(size=4), "z": 2 * rng.normal(size=4),
              "k": rng.normal(size=3), "a": a, "beta": np.asarray(beta), "g": g, "gamma": np.asarray(gamma),
              "rho": np.asarray(rho)}
    return _maybe_empty(kind, params, kind in ("hyperplane_zero_normal", "halfspace_zero_normal"))


def _affine_model(m: int, n: int) -> Callable[[Any], Any]:
    def model(lib: Any) -> Any:
        z = lib.Variable(n, name="z")
        M, t = lib.Parameter((n, n), name="M"), lib.Parameter(n, name="t")
        A, b = lib.Parameter((m, n), name="A"), lib.Parameter(m, name="b")
        return lib.Problem(lib.Minimize(lib.sum_squares(M @ z - t)), [A @ z == b])

    return model


def _affine_draw(m: int, n: int) -> Callable[[np.random.Generator, str], Instance]:
    """``A z == b`` with ``m`` rows in ``n`` unknowns, consistent unless the kind is ``inconsistent``: full rank,
    rank one, rank n - 1, or (wide A) the second half of the rows repeating the first, rescaled."""

    def draw(rng: np.random.Generator, kind: str) -> Instance:
        duplicated = m <= n and kind in ("duplicated_rows", "inconsistent")
        rank = {"rank_one": 1, "rank_deficient": n - 1}.get(kind, m // 2 if duplicated else min(m, n))
        A = rng.normal(size=(m, rank)) @ rng.normal(size=(rank, n))
        if duplicated:
            A[rank:] = A[:m - rank] * rng.uniform(0.5, 2.0, (m - rank, 1))
        if kind == "scaled_rows":
            A = A * _row_scales(rng, m)[:, None]
        b = A @ rng.normal(size=n)
        if kind == "inconsistent":
            b = b + _inconsistency(rng, A)
        params = {"M": _conditioned(rng, n), "t": rng.normal(size=n), "A": A, "b": b}
        return _maybe_empty(kind, params, kind == "inconsistent")

    return draw


def _inconsistency(rng: np.random.Generator, A: np.ndarray) -> np.ndarray:
    """A unit vector orthogonal to the range of ``A`` (A has rank below its row count)."""
    return _null_direction(rng, A.T)


#: The kinds of the far_* families: the size of the constraint rows.
_ROW_SIZES = ("unit_rows", "rows_1e-1", "rows_1e-2", "rows_1e-3")


def _far_model(halfspace: bool) -> Callable[[Any], Any]:
    def model(lib: Any) -> Any:
        u, y = lib.Variable(4, name="u"), lib.Parameter(4, name="y")
        if halfspace:
            g, gamma = lib.Parameter(4, name="g"), lib.Parameter(name="gamma")
            return lib.Problem(lib.Minimize(lib.sum_squares(u - y)), [g @ u <= gamma])
        A, b = lib.Parameter((2, 4), name="A"), lib.Parameter(2, name="b")
        return lib.Problem(lib.Minimize(lib.sum_squares(u - y)), [A @ u == b])

    return model


def _far_draw(halfspace: bool) -> Callable[[np.random.Generator, str], Instance]:
    """A halfspace ``g.u <= gamma < 0`` or two equality rows with rows of size 1, 1e-1, 1e-2 or 1e-3 (the kind):
    nonempty sets whose point nearest to ``y`` lies at a distance ~ 1 / (row size)."""

    def draw(rng: np.random.Generator, kind: str) -> Instance:
        size = {"unit_rows": 1.0, "rows_1e-1": 1e-1, "rows_1e-2": 1e-2, "rows_1e-3": 1e-3}[kind]
        rows = 2 - halfspace
        M = rng.normal(size=(rows, 4)) * size * rng.uniform(0.5, 2.0, (rows, 1))
        if halfspace:
            return Instance(kind, {"y": rng.normal(size=4), "g": M[0], "gamma": np.asarray(-rng.uniform(0.5, 2.0))})
        return Instance(kind, {"y": rng.normal(size=4), "A": M, "b": rng.normal(size=2)})

    return draw


def _balls_model(lib: Any) -> Any:
    a, b, c = lib.Variable(4, name="a"), lib.Variable(4, name="b"), lib.Variable(3, name="c")
    M, y = lib.Parameter((4, 4), name="M"), lib.Parameter(4, name="y")
    z, k = lib.Parameter(4, name="z"), lib.Parameter(3, name="k")
    r1, r2, r3 = lib.Parameter(name="r1"), lib.Parameter(name="r2"), lib.Parameter(name="r3")
    objective = lib.sum_squares(M @ a - y) + lib.sum_squares(b - z) + lib.sum_squares(c - k)
    return lib.Problem(lib.Minimize(objective), [lib.norm1(a) <= r1, lib.norm2(b) <= r2, lib.norm_inf(c) <= r3])


def _balls_draw(rng: np.random.Generator, kind: str) -> Instance:
    """l1, l2 and l-infinity balls with radii in [0.1, 2] (the optimum on the sphere: the targets lie far out),
    all zero (the set {0}), or one negative (empty)."""
    radii = rng.uniform(0.1, 2.0, 3)
    if kind == "zero_radii":
        radii[:] = 0.0
    if kind.endswith("_negative_radius"):
        radii[("l1", "l2", "linf").index(kind.split("_")[0])] = -rng.uniform(0.01, 1.0)
    params = {"M": _conditioned(rng, 4), "y": 3 * rng.normal(size=4), "z": 3 * rng.normal(size=4),
              "k": 3 * rng.normal(size=3), "r1": radii[0], "r2": radii[1], "r3": radii[2]}
    return _maybe_empty(kind, params, kind.endswith("_negative_radius"))


def _cones_model(lib: Any) -> Any:
    t, s, X = lib.Variable(name="t"), lib.Variable(4, name="s"), lib.Variable((3, 3), name="X")
    t0, s0, C = lib.Parameter(name="t0"), lib.Parameter(4, name="s0"), lib.Parameter((3, 3), name="C")
    objective = lib.square(t - t0) + lib.sum_squares(s - s0) + lib.sum_squares(X - C)
    return lib.Problem(lib.Minimize(objective), [lib.SOC(t, s), X >> 0])


def _cones_draw(rng: np.random.Generator, kind: str) -> Instance:
    """Targets inside the second-order and PSD cones, outside them, or in their polar cones (the answer: 0)."""
    s0 = rng.normal(size=4)
    norm = np.linalg.norm(s0)
    t0 = {"inside": norm + rng.uniform(0.1, 1.0), "outside": rng.uniform(-norm, norm),
          "polar": -norm - rng.uniform(0.1, 1.0)}[kind]
    eigenvalues = {"inside": rng.uniform(0.1, 2.0, 3), "outside": rng.uniform(-2.0, 2.0, 3),
                   "polar": -rng.uniform(0.1, 2.0, 3)}[kind]
    return Instance(kind, {"t0": np.asarray(t0), "s0": s0, "C": _spd(rng, eigenvalues)})


# ---- non-smooth terms -------------------------------------------------------------------------------------------

def _lasso_model(lib: Any) -> Any:
    x = lib.Variable(8, name="x")
    A, b, lam = lib.Parameter((5, 8), name="A"), lib.Parameter(5, name="b"), lib.Parameter(name="lam", nonneg=True)
    return lib.Problem(lib.Minimize(0.5 * lib.sum_squares(A @ x - b) + lam * lib.norm1(x)))


def _lasso_draw(rng: np.random.Generator, kind: str) -> Instance:
    """A wide lasso (5 rows, 8 columns): lam = 0 (a non-unique least-squares fit), moderate, or above
    max |A'b| (x = 0)."""
    A, b = rng.normal(size=(5, 8)), rng.normal(size=5)
    if kind == "scaled_rows":
        s = _row_scales(rng, 5, decades=1.0)
        A, b = A * s[:, None], b * s
    lam_max = np.abs(A.T @ b).max()
    lam = {"lam_zero": 0.0, "lam_above_max": lam_max * rng.uniform(1.01, 2.0)}.get(
        kind, lam_max * rng.uniform(0.05, 0.9))
    return Instance(kind, {"A": A, "b": b, "lam": np.asarray(lam)})


def _group_linf_model(lib: Any) -> Any:
    x, y = lib.Variable(4, name="x"), lib.Variable(4, name="y")
    A, B, b = lib.Parameter((6, 4), name="A"), lib.Parameter((6, 4), name="B"), lib.Parameter(6, name="b")
    lam, mu = lib.Parameter(name="lam", nonneg=True), lib.Parameter(name="mu", nonneg=True)
    objective = lib.sum_squares(A @ x + B @ y - b) + lam * lib.norm2(x) + mu * lib.norm_inf(y)
    return lib.Problem(lib.Minimize(objective))


def _group_linf_draw(rng: np.random.Generator, kind: str) -> Instance:
    """Group-lasso and l-infinity weights small, large (x = 0, y = 0), or zero (a rank-deficient least squares)."""
    A, B, b = rng.normal(size=(6, 4)), rng.normal(size=(6, 4)), rng.normal(size=6)
    scale = {"small_weights": 0.1, "large_weights": 30.0, "zero_weights": 0.0}[kind]
    return Instance(kind, {"A": A, "B": B, "b": b, "lam": np.asarray(scale * rng.uniform(0.5, 2.0)),
                           "mu": np.asarray(scale * rng.uniform(0.5, 2.0))})


def _huber_model(lib: Any) -> Any:
    x = lib.Variable(4, name="x")
    A, b, lam = lib.Parameter((8, 4), name="A"), lib.Parameter(8, name="b"), lib.Parameter(name="lam", nonneg=True)
    return lib.Problem(lib.Minimize(lib.sum(lib.huber(A @ x - b, 1.0)) + lam * lib.norm1(x)))


def _huber_draw(rng: np.random.Generator, kind: str) -> Instance:
    """Huber regression with an l1 term: clean data, two gross outliers, or no l1 term."""
    A = rng.normal(size=(8, 4))
    b = A @ rng.normal(size=4) + 0.1 * rng.normal(size=8)
    if kind == "outliers":
        b[:2] += rng.choice([-1.0, 1.0], 2) * rng.uniform(5.0, 20.0, 2)
    lam = 0.0 if kind == "lam_zero" else rng.uniform(0.05, 2.0)
    return Instance(kind, {"A": A, "b": b, "lam": np.asarray(lam)})


def _nonneg_elastic_model(lib: Any) -> Any:
    x = lib.Variable(5, name="x", **_nonneg(lib))
    A, b = lib.Parameter((7, 5), name="A"), lib.Parameter(7, name="b")
    lam, mu = lib.Parameter(name="lam", nonneg=True), lib.Parameter(name="mu", nonneg=True)
    objective = lib.sum_squares(A @ x - b) + lam * lib.norm1(x) + mu * lib.sum_squares(x)
    return lib.Problem(lib.Minimize(objective), [] if lib is od else [x >= 0])


def _nonneg_elastic_draw(rng: np.random.Generator, kind: str) -> Instance:
    """A nonnegative elastic net: both terms, the l1 term off, or the ridge term off."""
    A, b = rng.normal(size=(7, 5)), rng.normal(size=7)
    lam = 0.0 if kind == "lasso_off" else rng.uniform(0.05, 3.0)
    mu = 0.0 if kind == "ridge_off" else rng.uniform(0.01, 1.0)
    return Instance(kind, {"A": A, "b": b, "lam": np.asarray(lam), "mu": np.asarray(mu)})


# ---- domain-restricted objectives -------------------------------------------------------------------------------

def _entropy_simplex_model(lib: Any) -> Any:
    p, c = lib.Variable(6, name="p"), lib.Parameter(6, name="c")
    return lib.Problem(lib.Maximize(lib.sum(lib.entropy(p)) + c @ p), [p >= 0, lib.sum(p) == 1])


def _entropy_simplex_draw(rng: np.random.Generator, kind: str) -> Instance:
    """Maximum entropy plus a linear term on the simplex (solution softmax(c)); peaked c puts entries near 1e-9."""
    c = {"flat": np.zeros(6), "mild": rng.normal(size=6), "peaked": 6.0 * rng.normal(size=6)}[kind]
    return Instance(kind, {"c": c})


def _entropy_moments_model(lib: Any) -> Any:
    p, F, g = lib.Variable(6, name="p"), lib.Parameter((2, 6), name="F"), lib.Parameter(2, name="g")
    return lib.Problem(lib.Maximize(lib.sum(lib.entropy(p))), [F @ p == g, lib.sum(p) == 1])


def _entropy_moments_draw(rng: np.random.Generator, kind: str) -> Instance:
    """Maximum entropy with two moment constraints; infeasible when g lies outside the hull of F's columns."""
    F = rng.uniform(-1.0, 1.0, (2, 6))
    g = F @ rng.dirichlet(np.ones(6))
    if kind == "outside_hull":
        g[0] = F[0].max() + rng.uniform(0.1, 1.0)
    return Instance(kind, {"F": F, "g": g}, expected="infeasible" if kind == "outside_hull" else "optimal")


def _log_budget_model(lib: Any) -> Any:
    x = lib.Variable(5, name="x")
    w, price, budget = (lib.Parameter(5, name="w", nonneg=True), lib.Parameter(5, name="price"),
                        lib.Parameter(name="budget"))
    return lib.Problem(lib.Maximize(lib.sum(lib.multiply(w, lib.log(x)))), [price @ x <= budget])


def _log_budget_draw(rng: np.random.Generator, kind: str) -> Instance:
    """Weighted log utility under a budget (x_i = w_i budget / (price_i sum w)); infeasible with a negative
    budget, as log needs x > 0."""
    w, price, budget = rng.uniform(0.5, 2.0, 5), rng.uniform(0.5, 2.0, 5), rng.uniform(1.0, 10.0)
    if kind == "spread_prices":
        price = 10.0 ** rng.uniform(-2.0, 2.0, 5)
    if kind == "negative_budget":
        budget = -rng.uniform(0.1, 2.0)
    return Instance(kind, {"w": w, "price": price, "budget": np.asarray(budget)},
                    expected="infeasible" if kind == "negative_budget" else "optimal")


def _log_det_model(psd: bool) -> Callable[[Any], Any]:
    def model(lib: Any) -> Any:
        X, S = lib.Variable((3, 3), name="X"), lib.Parameter((3, 3), name="S")
        return lib.Problem(lib.Maximize(lib.log_det(X) - lib.trace(S @ X)), [X >> 0] if psd else [])

    return model


def _log_det_draw(rng: np.random.Generator, kind: str) -> Instance:
    """log det X - tr(S X): X = inv(S) for S > 0, unbounded above when S has a negative eigenvalue."""
    eigenvalues = {"well_conditioned": rng.uniform(0.5, 2.0, 3), "ill_conditioned": 10.0 ** rng.uniform(-2, 2, 3),
                   "indefinite": np.array([-rng.uniform(0.1, 1.0), *rng.uniform(0.5, 2.0, 2)])}[kind]
    return Instance(kind, {"S": _spd(rng, eigenvalues)}, expected="unbounded" if kind == "indefinite" else "optimal")


# ---- second-order cone programs ---------------------------------------------------------------------------------

def _socp_model(lib: Any) -> Any:
    x = lib.Variable(4, name="x")
    c, F, g = lib.Parameter(4, name="c"), lib.Parameter((3, 4), name="F"), lib.Parameter(3, name="g")
    e, d = lib.Parameter(4, name="e"), lib.Parameter(name="d")
    G, h = lib.Parameter((6, 4), name="G"), lib.Parameter(6, name="h")
    return lib.Problem(lib.Minimize(c @ x), [lib.norm2(F @ x + g) <= e @ x + d, G @ x <= h])


def _socp_draw(rng: np.random.Generator, kind: str) -> Instance:
    """An SOCP feasible at x0 and bounded (c in the cone of the linear rows), infeasible through the cone
    (|F x + g| <= -1) or the linear rows, or unbounded along a ray d of both."""
    x0 = rng.normal(size=4)
    F, g, e, G = rng.normal(size=(3, 4)), rng.normal(size=3), rng.normal(size=4), rng.normal(size=(6, 4))
    c = -G.T @ rng.uniform(0.1, 1.0, 6)  # dual feasible for the linear rows: bounded
    if kind == "unbounded":  # d: G d <= 0, |F d| <= e.d, c.d < 0
        direction = rng.normal(size=4)
        G = np.where((G @ direction > 0)[:, None], -G, G)
        e = direction * (np.linalg.norm(F @ direction) + 1.0) / (direction @ direction)
        c = -direction
    h = G @ x0 + rng.uniform(0.1, 1.0, 6)
    d = np.linalg.norm(F @ x0 + g) - e @ x0 + rng.uniform(0.1, 1.0)
    if kind == "infeasible_cone":  # |F x + g| <= -1
        e, d = np.zeros(4), -1.0
    if kind == "infeasible_linear":
        G[1], h[1] = -G[0], -h[0] - 1.0
    return Instance(kind, {"c": c, "F": F, "g": g, "e": e, "d": np.asarray(d), "G": G, "h": h},
                    kind == "infeasible_cone", _LP_EXPECTED.get(kind, "optimal"))


# ---- the families -----------------------------------------------------------------------------------------------

def families() -> list[Family]:
    """Every family."""
    return [
        Family("lp_degenerate", _lp_model, _lp_draw,
               ("degenerate_vertex", "scaled_rows", "infeasible_equalities", "infeasible_inequalities", "unbounded")),
        Family("qp_rank_deficient", _qp_model, _qp_draw,
               ("degenerate", "scaled_rows", "infeasible_equalities", "infeasible_inequalities", "unbounded")),
        Family("lsq_tall", _least_squares(10, 5), _least_squares_draw(10, 5),
               ("full_rank", "scaled_rows", "duplicate_column")),
        Family("lsq_wide", _least_squares(4, 9), _least_squares_draw(4, 9),
               ("full_rank", "scaled_rows", "duplicate_row")),
        Family("set_box_simplex", _box_simplex_model, _box_simplex_draw,
               ("feasible", "box_crossed", "box_pinned", "simplex_negative_sum", "simplex_zero_sum")),
        Family("set_simplex_rows", _simplex_rows_model, _simplex_rows_draw,
               ("feasible", "negative_row_sum", "negative_column_sum", "zero_sums")),
        Family("set_box_section", _box_section_model, _box_section_draw,
               ("feasible", "sum_at_upper_end", "sum_above", "sum_below")),
        Family("set_planes", _planes_model, _planes_draw,
               ("feasible", "hyperplane_zero_normal", "halfspace_zero_normal", "halfspace_zero_normal_feasible",
                "scaled_normals")),
        Family("set_affine_wide", _affine_model(4, 6), _affine_draw(4, 6),
               ("duplicated_rows", "rank_one", "scaled_rows", "inconsistent")),
        Family("set_affine_tall", _affine_model(6, 4), _affine_draw(6, 4),
               ("consistent", "rank_deficient", "rank_one", "scaled_rows", "inconsistent")),
        Family("far_halfspace", _far_model(True), _far_draw(True), _ROW_SIZES),
        Family("far_affine", _far_model(False), _far_draw(False), _ROW_SIZES),
        Family("set_balls", _balls_model, _balls_draw,
               ("feasible", "zero_radii", "l1_negative_radius", "l2_negative_radius", "linf_negative_radius")),
        Family("set_cones", _cones_model, _cones_draw, ("inside", "outside", "polar")),
        Family("lasso_wide", _lasso_model, _lasso_draw, ("lam_zero", "lam_moderate", "lam_above_max", "scaled_rows")),
        Family("group_linf", _group_linf_model, _group_linf_draw, ("small_weights", "large_weights", "zero_weights")),
        Family("huber_l1", _huber_model, _huber_draw, ("outliers", "clean", "lam_zero")),
        Family("nonneg_elastic_net", _nonneg_elastic_model, _nonneg_elastic_draw, ("both", "lasso_off", "ridge_off")),
        Family("entropy_simplex", _entropy_simplex_model, _entropy_simplex_draw, ("flat", "mild", "peaked")),
        Family("entropy_moments", _entropy_moments_model, _entropy_moments_draw, ("inside_hull", "outside_hull")),
        Family("log_budget", _log_budget_model, _log_budget_draw, ("uniform", "spread_prices", "negative_budget")),
        Family("log_det", _log_det_model(False), _log_det_draw, ("well_conditioned", "ill_conditioned", "indefinite")),
        Family("log_det_psd", _log_det_model(True), _log_det_draw,
               ("well_conditioned", "ill_conditioned", "indefinite")),
        Family("socp", _socp_model, _socp_draw, ("optimal", "infeasible_cone", "infeasible_linear", "unbounded")),
    ]
