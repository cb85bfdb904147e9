"""Derivative fidelity: how far each layer's gradient is from the exact derivative, at its default settings.

A fast gradient is worth little if it is wrong, and a solver's stopping tolerance, a relaxed problem or a weak
margin can leave a gradient off by far more than the solution is. Every instance here is built from its
optimality conditions: choose the solution, the active set, positive multipliers on it and positive slacks off
it, then set the data that makes them optimal. The active set and its margins are then known exactly, and so is
the derivative of the loss ``w'x*`` (a fixed random ``w``): the reduced KKT system of the active set, solved in
numpy.

- ``qp``: ``min 0.5 x'Qx + q'x  s.t.  Gx <= h, Ax = b`` (Q positive definite); gradient w.r.t. ``q, h, b``.
- ``lp``: ``min c'x`` under the same constraints at a unique, non-degenerate vertex (as many active rows as
  variables, all with positive multipliers); gradient w.r.t. ``c, h, b``.
- ``socp``: ``min c'x  s.t.  ||A_i x + b_i|| <= c_i'x + d_i, Fx = g``, half of the cones active away from their
  apex with positive multipliers; gradient w.r.t. ``c`` and the cone offsets ``b, d``. Near such a solution the
  active cones are smooth constraints, and the reference is the implicit derivative of that exact KKT system.
- ``near-degenerate qp`` / ``lp``: the first QP and LP shape with ``WEAK`` inactive constraints at slack
  ``margin`` and ``WEAK`` active ones with multiplier ``margin`` (1e-2, 1e-4, 1e-6): still differentiable, barely.

An instance's error is ``max |g - g_ref| / max |g_ref|`` (infinite for a NaN or an Inf). Each row gives, for one
case and contender, the worst and the median error, the number of non-finite gradients and, for optdsl, of
solutions flagged ``singular``; and the reference's own check on the first ``CHECKED`` instances (see
:func:`reference_check`).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np

import optdsl as od
from benchmarks import qp
from benchmarks.harness import CLARABEL, DIFFCP, directional_fd, optional

WORKLOAD = "fidelity"
#: The data vectors each kind of model is differentiated with respect to, its cost vector first.
WRT = {"qp": ("q", "h", "b"), "lp": ("c", "h", "b"), "socp": ("c", "b", "d")}
#: Instances of a case whose reference gradient is checked against central differences of Clarabel solves.
CHECKED = 2
#: Step of those differences. A QP's or LP's solution is affine in (q, h, b) while its active set holds, so the
#: step only has to stay below the margins (a tenth of the margin for the near-degenerate ones). Clarabel's SOCP
#: solutions are accurate to about 1e-6 only: a larger step keeps that error from dominating.
FD_STEP = {"qp": 1e-4, "lp": 1e-4, "socp": 1e-2}
#: How many constraints of a near-degenerate instance are weakly inactive, and how many weakly active.
WEAK = 3
#: cvxpylayers (diffcp + Clarabel) at Clarabel's default tolerances, and at the reference's.
LAYERS = {"cvxpylayers": DIFFCP,
          "cvxpylayers[tight]": {**DIFFCP, **{k: v for k, v in CLARABEL.items() if k != "solver"}}}


@dataclass(frozen=True)
class Spec:
    """One case: a family at one shape, ``count`` instances. ``dims`` is ``(n, m, p, density of G)`` for QPs and
    LPs, ``(n, cones, k, p)`` for SOCPs (``A_i`` of shape ``(k, n)``); ``margin`` makes the instances
    near-degenerate."""

    family: str
    kind: str
    dims: tuple
    count: int
    margin: float | None = None

    @property
    def size(self) -> str:
        if self.kind == "socp":
            n, cones, k, p = self.dims
            return f"n={n} cones={cones}x{k + 1} p={p}"
        n, m, p, density = self.dims
        label = f"n={n} m={m} p={p}" + (f" G {density:.0%} dense" if density < 1 else "")
        return label + (f" margin={self.margin:.0e}" if self.margin else "")


FULL = [*(Spec(kind, kind, dims, count) for kind in ("qp", "lp")
          for dims, count in (((30, 60, 6, 1.0), 8), ((100, 200, 20, 1.0), 8), ((300, 600, 0, 0.1), 3))),
        Spec("socp", "socp", (20, 10, 4, 4), 8), Spec("socp", "socp", (60, 30, 4, 12), 4),
        *(Spec(f"near-degenerate {kind}", kind, (30, 60, 6, 1.0), 8, margin)
          for kind in ("qp", "lp") for margin in (1e-2, 1e-4, 1e-6))]
QUICK = [Spec("qp", "qp", (8, 16, 2, 1.0), 1), Spec("lp", "lp", (8, 16, 2, 1.0), 1),
         Spec("socp", "socp", (6, 4, 3, 1), 1),
         *(Spec(f"near-degenerate {kind}", kind, (8, 16, 2, 1.0), 1, 1e-4) for kind in ("qp", "lp"))]


@dataclass
class Instance:
    """One problem: its data (every parameter, by name), the designed solution and the exact gradient of ``w'x*``."""

    data: dict[str, np.ndarray]
    x: np.ndarray
    grad: dict[str, np.ndarray]


@dataclass
class Case:
    """A spec's instances, all differentiating the same loss ``w'x*``."""

    spec: Spec
    w: np.ndarray
    instances: list[Instance]

    @property
    def wrt(self) -> tuple[str, ...]:
        """The differentiated data vectors (``b`` only where there are equalities)."""
        return tuple(self.instances[0].grad)


def _unit_rows(M: np.ndarray) -> np.ndarray:
    return M / np.linalg.norm(M, axis=1, keepdims=True)


def _margins(rng: np.random.Generator, active: np.ndarray, margin: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Multipliers on the active set and slacks off it, in [0.5, 1.5]; with a ``margin``, ``WEAK`` of each are
    that small instead."""
    lam = np.where(active, rng.uniform(0.5, 1.5, active.size), 0.0)
    slack = np.where(active, 0.0, rng.uniform(0.5, 1.5, active.size))
    if margin is not None:
        lam[rng.choice(np.flatnonzero(active), WEAK, replace=False)] = margin
        slack[rng.choice(np.flatnonzero(~active), WEAK, replace=False)] = margin
    return lam, slack


def _adjoint(H: np.ndarray, J: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``y`` of ``[[H, J'], [J, 0]] y = [w; 0]`` (the KKT matrix of the active constraints' rows ``J``), split
    into its primal part and its part on ``J``'s rows: ``w'x*`` moves by ``-y' dR`` for a change ``dR`` of the
    KKT residual."""
    n, k = H.shape[0], J.shape[0]
    y = np.linalg.solve(np.block([[H, J.T], [J, np.zeros((k, k))]]), np.concatenate([w, np.zeros(k)]))
    return y[:n], y[n:]


def polyhedral(rng: np.random.Generator, spec: Spec, w: np.ndarray) -> Instance:
    """A QP or LP with a designed solution and its exact gradient.

    Rows of G (a ``density`` of their entries non-zero) and A have unit norm; a QP has ``(n - p) // 2`` active
    inequalities and ``Q = MM'/n + I``, an LP exactly ``n - p`` (a vertex) and no Q. Then ``q = -(Qx + G'lam +
    A'nu)``, ``h = Gx + slack``, ``b = Ax``, and since ``[x; nu; lam_a]`` solves the KKT system of ``[A; G_a]``
    with right-hand side ``[-q; b; h_a]``, the gradient is ``-y_x`` for q, ``y`` on the rows for ``b`` and the
    active rows of ``h`` (zero on the inactive ones).
    """
    n, m, p, density = spec.dims
    lp = spec.kind == "lp"
    G = rng.normal(size=(m, n)) * (rng.random((m, n)) < density)
    G[np.arange(m), rng.integers(0, n, m)] = rng.normal(size=m)
    G, A = _unit_rows(G), _unit_rows(rng.normal(size=(p, n)))
    active = np.zeros(m, bool)
    active[rng.choice(m, n - p if lp else (n - p) // 2, replace=False)] = True
    lam, slack = _margins(rng, active, spec.margin)
    M = rng.normal(size=(n, n))
    Q = np.zeros((n, n)) if lp else M @ M.T / n + np.eye(n)
    x, nu = rng.normal(size=n), rng.normal(size=p)
    y_x, y_rows = _adjoint(Q, np.vstack([A, G[active]]), w)
    grad_h = np.zeros(m)
    grad_h[active] = y_rows[p:]
    cost = "c" if lp else "q"
    data = {cost: -(Q @ x + G.T @ lam + A.T @ nu), "G": G, "h": G @ x + slack} | ({} if lp else {"Q": Q})
    grad = {cost: -y_x, "h": grad_h}
    if p:
        data |= {"A": A, "b": A @ x}
        grad["b"] = y_rows[:p]
    return Instance(data, x, grad)


def socp(rng: np.random.Generator, spec: Spec, w: np.ndarray) -> Instance:
    """An SOCP with a designed solution and its exact gradient.

    Each cone's ``u_i = A_i x + b_i`` is drawn at the solution; half of the cones are active (``c_i'x + d_i =
    ||u_i|| = r_i``, ``u_i = r_i e_i``), the others at a slack in [0.5, 1.5]. An active cone is there the smooth
    constraint ``f_i = ||u_i|| - c_i'x - d_i <= 0``, so ``c = -(sum mu_i grad f_i + F'nu)`` makes the point
    optimal for multipliers ``mu`` in [0.5, 1.5], and the solution is the root of ``c + sum mu_i grad f_i + F'nu``,
    ``f_a``, ``Fx - g``. Its Jacobian in ``(x, mu_a, nu)`` is the KKT matrix of ``[grad f_a; F]`` with ``H = sum
    mu_i A_i'(I - e_i e_i')A_i / r_i``; in the data, ``c`` enters the first block as the identity, ``b_i`` as
    ``mu_i A_i'(I - e_i e_i') / r_i`` and in ``f_i`` as ``e_i'``, and ``d_i`` as ``-1`` in ``f_i``.
    """
    n, cones, k, p = spec.dims
    A, C, F = rng.normal(size=(cones, k, n)), rng.normal(size=(cones, n)), _unit_rows(rng.normal(size=(p, n)))
    x, u, nu = rng.normal(size=n), rng.normal(size=(cones, k)), rng.normal(size=p)
    active = np.zeros(cones, bool)
    active[rng.choice(cones, cones // 2, replace=False)] = True
    mu, slack = _margins(rng, active, None)
    r = np.linalg.norm(u, axis=1)
    e = u / r[:, None]
    grad_f = np.einsum("ikn,ik->in", A, e) - C
    P = np.eye(k) - e[:, :, None] * e[:, None, :]
    H = np.einsum("i,ikn,ikl,ilm->nm", mu / r, A, P, A)
    y_x, y_rows = _adjoint(H, np.vstack([grad_f[active], F]), w)
    y_mu = np.zeros(cones)
    y_mu[active] = y_rows[:active.sum()]
    grad_b = -((mu / r)[:, None] * np.einsum("ikl,ilm,m->ik", P, A, y_x) + e * y_mu[:, None])
    data = {"c": -(grad_f.T @ mu + F.T @ nu), "A": A.reshape(cones * k, n), "b": (u - A @ x).ravel(), "C": C,
            "d": r + slack - C @ x, "F": F, "g": F @ x}
    return Instance(data, x, {"c": -y_x, "b": grad_b.ravel(), "d": y_mu})


def make_case(spec: Spec, seed: int) -> Case:
    """``spec.count`` seeded instances of a spec and the loss weights ``w``."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=spec.dims[0])
    build = socp if spec.kind == "socp" else polyhedral
    return Case(spec, w, [build(rng, spec, w) for _ in range(spec.count)])


def cases(quick: bool) -> list[Case]:
    """Every case of the full (or quick) run."""
    return [make_case(spec, seed) for seed, spec in enumerate(QUICK if quick else FULL)]


def _factored(data: dict[str, Any], xp: Any = np) -> dict[str, Any]:
    """The data with a QP's ``Q`` replaced by ``L``, ``Q = L'L`` (``xp``: numpy, or jax.numpy under a trace)."""
    if "Q" not in data:
        return data
    return {**{k: v for k, v in data.items() if k != "Q"}, "L": xp.linalg.cholesky(data["Q"]).T}


def cvxpy_problem(kind: str, x: cp.Variable, v: dict[str, Any]) -> cp.Problem:
    """The model in cvxpy, its data ``v`` (as :func:`_factored` gives it) constants or parameters; a QP's objective
    is ``0.5 ||Lx||^2 + q'x`` so that the problem is DPP."""
    if kind == "socp":
        cones = v["C"].shape[0]
        u = v["A"] @ x + v["b"]
        k = u.shape[0] // cones
        constraints = [cp.SOC(v["C"][i] @ x + v["d"][i], u[i * k:(i + 1) * k]) for i in range(cones)]
        return cp.Problem(cp.Minimize(v["c"] @ x), [*constraints, v["F"] @ x == v["g"]])
    constraints = [v["G"] @ x <= v["h"]] + ([v["A"] @ x == v["b"]] if "A" in v else [])
    objective = 0.5 * cp.sum_squares(v["L"] @ x) + v["q"] @ x if kind == "qp" else v["c"] @ x
    return cp.Problem(cp.Minimize(objective), constraints)


def clarabel(kind: str, data: dict[str, np.ndarray]) -> np.ndarray:
    """The solution by cvxpy + Clarabel at the reference tolerance."""
    x = cp.Variable(data[WRT[kind][0]].size)
    cvxpy_problem(kind, x, _factored(data)).solve(**CLARABEL)
    return x.value


def reference_check(case: Case, seed: int = 0) -> tuple[float, float]:
    """How well cvxpy + Clarabel confirm the designed instances, over the first ``CHECKED`` of them.

    Returns the worst ``|<g_ref, d> - FD| / |FD|``, ``d`` a random unit direction in the differentiated data and
    FD the central difference of ``w'x*`` through Clarabel solves, and the worst ``max |x - x*| / max(1, max
    |x*|)`` of Clarabel's own solution ``x``, which bounds what its differences can confirm.
    """
    rng = np.random.default_rng(seed)
    kind, step = case.spec.kind, FD_STEP[case.spec.kind]
    if case.spec.margin is not None:
        step = min(step, case.spec.margin / 10)
    fd_err = x_err = 0.0
    for instance in case.instances[:CHECKED]:
        direction = {k: rng.normal(size=g.shape) for k, g in instance.grad.items()}
        norm = np.sqrt(sum(np.sum(d**2) for d in direction.values()))
        direction = {k: d / norm for k, d in direction.items()}
        slope = sum(float(instance.grad[k] @ d) for k, d in direction.items())

        def solution(t: float, data: dict = instance.data, direction: dict = direction) -> np.ndarray:
            return clarabel(kind, {**data, **{k: data[k] + t * d for k, d in direction.items()}})

        fd = directional_fd(lambda t: float(case.w @ solution(t)), step)
        fd_err = max(fd_err, abs(slope - fd) / abs(fd))
        x_err = max(x_err, float(np.max(np.abs(solution(0.0) - instance.x)) / max(1.0, np.max(np.abs(instance.x)))))
    return fd_err, x_err


@dataclass
class Layer:
    """One contender: ``solve(params) -> (x, singular)`` (``singular`` None where the layer has no such flag),
    differentiated by ``jax.grad``, under ``jit`` unless the layer runs on the host."""

    name: str
    solve: Callable[[dict[str, Any]], tuple[Any, Any]]
    jitted: bool = True

    def __post_init__(self) -> None:
        def loss(diff: dict, rest: dict, w: jax.Array) -> tuple[jax.Array, Any]:
            x, singular = self.solve({**rest, **diff})
            return jnp.dot(w, x), singular

        grad = jax.grad(loss, has_aux=True)
        self._grad = jax.jit(grad) if self.jitted else grad

    def gradient(self, data: dict[str, np.ndarray], wrt: tuple[str, ...],
                 w: np.ndarray) -> tuple[dict[str, np.ndarray], bool | None]:
        """The gradient of ``w'x*`` w.r.t. the ``wrt`` entries of ``data``, and the singular flag."""
        diff = {k: jnp.asarray(data[k]) for k in wrt}
        rest = {k: jnp.asarray(v) for k, v in data.items() if k not in wrt}
        grad, singular = self._grad(diff, rest, jnp.asarray(w))
        return {k: np.asarray(g) for k, g in grad.items()}, None if singular is None else bool(singular)


def _optdsl_problem(spec: Spec) -> od.Problem:
    """The spec's model declared in optdsl, its parameters named as the instances' data."""
    if spec.kind == "qp":
        return qp.optdsl_qp(*spec.dims[:3])
    x = od.Variable(spec.dims[0], name="x")
    if spec.kind == "lp":
        n, m, p, _ = spec.dims
        c, G, h = od.Parameter(n, name="c"), od.Parameter((m, n), name="G"), od.Parameter(m, name="h")
        constraints = [G @ x <= h]
        if p:
            A, b = od.Parameter((p, n), name="A"), od.Parameter(p, name="b")
            constraints.append(A @ x == b)
        return od.Problem(od.Minimize(c @ x), constraints)
    n, cones, k, p = spec.dims
    c, A, b = od.Parameter(n, name="c"), od.Parameter((cones * k, n), name="A"), od.Parameter(cones * k, name="b")
    C, d = od.Parameter((cones, n), name="C"), od.Parameter(cones, name="d")
    F, g = od.Parameter((p, n), name="F"), od.Parameter(p, name="g")
    u = A @ x + b
    constraints = [od.norm2(u[i * k:(i + 1) * k]) <= C[i] @ x + d[i] for i in range(cones)]
    return od.Problem(od.Minimize(c @ x), [*constraints, F @ x == g])


def _optdsl(spec: Spec) -> Layer:
    """optdsl at its default settings."""
    solve = _optdsl_problem(spec).compile()

    def x_of(params: dict[str, Any]) -> tuple[Any, Any]:
        sol = solve(params)
        return sol.x, sol.singular

    return Layer(f"optdsl[{solve.method}]", x_of)


def _cvxpylayers(layers: Any, spec: Spec, sample: dict[str, np.ndarray]) -> list[Layer]:
    """cvxpylayers at each of ``LAYERS``' settings, one layer with every datum a parameter shaped as in
    ``sample``."""
    x = cp.Variable(spec.dims[0])
    P = {k: cp.Parameter(v.shape) for k, v in _factored(sample).items()}
    layer = layers.CvxpyLayer(cvxpy_problem(spec.kind, x, P), parameters=list(P.values()), variables=[x])

    def contender(name: str, settings: dict) -> Layer:
        def x_of(params: dict[str, Any]) -> tuple[Any, None]:
            values = _factored(params, jnp)
            return layer(*(values[k] for k in P), solver_args=settings)[0], None

        return Layer(name, x_of, jitted=False)

    return [contender(name, settings) for name, settings in LAYERS.items()]


def standard_qp(data: dict[str, Any]) -> tuple:
    """``(Q, q, A, b, G, h)`` of a QP or LP instance (``Q = 0`` for an LP, empty ``A, b`` without equalities)."""
    n = data["G"].shape[1]
    Q = data["Q"] if "Q" in data else jnp.zeros((n, n))
    A, b = (data["A"], data["b"]) if "A" in data else (jnp.zeros((0, n)), jnp.zeros(0))
    return Q, data["q"] if "q" in data else data["c"], A, b, data["G"], data["h"]


def _qpax(qpax: Any) -> list[Layer]:
    """qpax's ``solve_qp_primal`` as its authors benchmark it and tightened (``benchmarks.qp.QPAX``)."""
    def contender(name: str, settings: dict) -> Layer:
        return Layer(name, lambda params: (qpax.solve_qp_primal(*standard_qp(params), **settings), None))

    return [contender(name, settings) for name, settings in qp.QPAX.items()]


def contenders(spec: Spec, sample: dict[str, np.ndarray]) -> list[Layer]:
    """optdsl and the anchors installed: cvxpylayers on every family, qpax on QPs and LPs."""
    out = [_optdsl(spec)]
    layers = optional("cvxpylayers.jax")
    if layers is not None:
        out += _cvxpylayers(layers, spec, sample)
    qpax = optional("qpax")
    if qpax is not None and spec.kind != "socp":
        out += _qpax(qpax)
    return out


def relative_error(grad: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> float:
    """``max |g - g_ref| / max |g_ref|`` over every differentiated entry; infinite for a NaN or an Inf."""
    g, r = (np.concatenate([d[k].ravel() for k in ref]) for d in (grad, ref))
    return float(np.max(np.abs(g - r)) / np.max(np.abs(r))) if np.all(np.isfinite(g)) else np.inf


def measure(case: Case, built: dict[tuple, list[Layer]]) -> list[dict[str, Any]]:
    """One row per contender of a case. ``built`` keeps the contenders of each model shape, for the cases that
    share it (the near-degenerate ones share the first QP's and LP's)."""
    spec = case.spec
    key = (spec.kind, spec.dims)
    if key not in built:
        built[key] = contenders(spec, case.instances[0].data)
    fd_err, x_err = reference_check(case)
    rows = []
    for layer in built[key]:
        results = [layer.gradient(instance.data, case.wrt, case.w) for instance in case.instances]
        errors = [relative_error(grad, instance.grad) for (grad, _), instance in zip(results, case.instances)]
        flags = [flag for _, flag in results]
        rows.append({"workload": WORKLOAD, "family": spec.family, "size": spec.size, "margin": spec.margin,
                     "contender": layer.name, "instances": len(errors), "max_err": max(errors),
                     "median_err": statistics.median(errors), "nonfinite": int(np.sum(np.isinf(errors))),
                     "singular": None if flags[0] is None else sum(flags), "ref_fd_err": fd_err, "ref_x_err": x_err})
    return rows


def run(quick: bool, skip: list[str] | None = None) -> Iterator[list[dict[str, Any]]]:
    """The rows of every case, one case at a time, but those whose size label contains a ``skip`` text."""
    built: dict[tuple, list[Layer]] = {}
    for case in cases(quick):
        if not any(text in case.spec.size for text in skip or ()):
            yield measure(case, built)
