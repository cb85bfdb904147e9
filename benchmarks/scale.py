"""Large sparse LPs and QPs: optdsl's PDLP against cvxpylayers and cvxpy + Clarabel -- time, memory, accuracy.

    min c'x (+ 0.5 x'Px)  s.t.  A x = b,  G x <= h,  lower <= x <= upper

The ``scale`` workload of ``python -m benchmarks.run``: LPs and QPs with n = 10^2 ... 10^5 variables,
n / 20 equalities and n / 2 inequalities, about 5 non-zeros a column, some columns free, some boxed
(:func:`structure`). Each instance is built around a chosen solution (:func:`instance`): an LP's a
vertex, a QP's a point with a third of the inequalities and half the bounds active, multipliers
strictly positive on the active set, and a random transversal of the active rows and free columns
planted into ``A`` and ``G`` so the active-set matrix is nonsingular: the solution and its
multipliers are unique and known. The loss is ``w'x*`` for a seeded ``w``, differentiated in ``c``,
``b`` and ``h``; its reference gradient solves the active-set KKT system with scipy
(:func:`reference_gradient`: sparse LU up to :data:`LU_MAX` rows, else LSMR on the equilibrated system to a
relative residual of 1e-13, restarted on its residual).

Every (kind, n, contender) row runs in a fresh process (:func:`row`) under a time and a memory budget
(:data:`BUDGET_S`, :data:`BUDGET_MB`); a row that exceeds one says so instead of its figures. The quick
mode (n = 100) runs its rows in the calling process, without budgets or peak memory.
Contenders: ``optdsl[pdlp]`` (the runtime's solver on BCOO data, jitted), ``optdsl[model]`` (the instance
written as a model, :func:`scale_model`, compiled with the defaults, its matrices given BCOO values; the
status names the solver the compiler chose), ``cvxpylayers`` (its default settings, Clarabel via
diffcp) and ``clarabel`` (cvxpy + Clarabel at the harness's tight tolerances, forward only). Columns:
``fwd_s`` and ``fwdbwd_s`` (process CPU seconds of one call after a first one that compiles),
``peak_mb`` (the process's peak resident memory, the interpreter and libraries included),
``sol_err`` (``max |x - x*| / max(1, max |x*|)``), ``grad_err`` (``||g - g_ref|| / ||g_ref||`` over
``(c, b, h)``), ``status``. Run on one thread for meaningful CPU times:
``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false taskset -c 1 python -m benchmarks.run --only scale``.

``--crossover`` measures instead where PDLP overtakes the dense interior point on the KKT route: a compiled LP
and QP (:func:`crossover_model`)
solved and differentiated by the dense interior point and by PDLP, each at its default tolerance, in
process CPU time -- run it on one thread, ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false taskset -c 1``.
Columns: ``kkt_size`` (``n + p + m``), ``<solver>_s`` (solve), ``<solver>_grad_s``
(solve and gradient), ``<solver>_status``, ``x_err`` (``max |x_pdlp - x_ip|``) and ``grad_err`` (the
gradients' largest difference over the largest entry; these LPs are not planted unique, so where PDLP ends
at another optimal vertex or its iteration limit these two compare different points).

``--factor`` measures whether a sparse factorisation of the interior point's Newton matrix would beat the
dense one it uses (:func:`measure_factorisation`): on these LPs, random sparse matrices whose graph leaves
no small separators, scipy's SuperLU fills a quarter to half of the dense matrix and takes as long as the
dense LU, so the interior point stays dense and PDLP takes the large sizes.

Run: ``python -m benchmarks.scale [--quick] [--crossover] [--factor] [--runs N] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from jax.experimental import sparse

import optdsl as od
from benchmarks.harness import CLARABEL, DIFFCP
from optdsl.runtime.solvers import pdlp
from optdsl.runtime.status import describe

FULL = [100, 1_000, 10_000, 100_000]
QUICK = [100]
KINDS = ("lp", "qp")
WORKLOAD = "scale"
#: Wall seconds and resident megabytes a row may take before it is stopped and reported over budget.
BUDGET_S, BUDGET_MB = 900.0, 4096
#: Largest active-set system the reference gradient factorises (sparse LU); larger ones are solved by LSMR on the
#: system equilibrated in 2-norm (symmetrically), run this many times, each on the residual of the last, for at most
#: 2 steps per row each (MINRES stalls near 1e-7 on the LP's basis at n = 10^5, LSMR unscaled near 2e-3).
LU_MAX = 20_000
REFERENCE_PASSES = 2
CROSSOVER = [40, 80, 160, 320, 640, 1_280, 2_000]
FACTOR = [300, 1_000, 3_000]


def sparse_matrix(rng: np.random.Generator, rows: int, n: int, per_column: int = 5) -> sp.csr_matrix:
    """``rows x n`` Gaussian sparse matrix, ``per_column`` non-zeros a column and at least one a row."""
    k = min(per_column, rows)
    r = np.concatenate([rng.choice(rows, size=k, replace=False) for _ in range(n)] + [np.arange(rows)])
    c = np.concatenate([np.repeat(np.arange(n), k), rng.integers(0, n, rows)])
    M = sp.coo_matrix((rng.standard_normal(r.size), (r, c)), shape=(rows, n)).tocsr()
    M.sum_duplicates()
    return M


def structure(rng: np.random.Generator, n: int, p: int, m: int, qp: bool) -> dict[str, Any]:
    """Data shared by a family: ``A``, ``G``, bounds (20% free, the rest ``>= 0`` and 30% of those boxed), ``P``
    (``B'B + 0.1 I``, and its factor ``B``)."""
    A, G = sparse_matrix(rng, p, n), sparse_matrix(rng, m, n)
    lower, upper = np.zeros(n), np.full(n, np.inf)
    free = rng.random(n) < 0.2
    lower[free] = -np.inf
    boxed = ~free & (rng.random(n) < 0.3)
    upper[boxed] = 1 + rng.random(boxed.sum())
    P = B = None
    if qp:
        B = sparse_matrix(rng, n // 2, n, 2)
        P = (B.T @ B + 0.1 * sp.eye(n)).tocsr()
    return dict(P=P, B=B, A=A, G=G, lower=lower, upper=upper)


def instance(rng: np.random.Generator, s: dict[str, Any], unique: bool = True,
             plant: bool = False) -> dict[str, Any]:
    """``(c, b, h)`` and a solution ``(x, nu, lam, z)`` of one instance of family ``s``.

    An LP's solution is a vertex (``n`` active constraints), a QP's a point with a third of the
    inequalities and half the bounds active; multipliers are strictly positive on the active ones.
    ``unique``: draw the active set again until its rows are independent (a dense rank test, for small
    ``n``), which makes the solution and the multipliers unique. ``plant``: instead, add entries of
    magnitude 1 on a random matching of the active rows (equalities first) to the free columns, which
    makes the active-set matrix structurally nonsingular at any ``n``. ``A`` and ``G`` are returned too.
    """
    A, G, lower, upper, P = s["A"], s["G"], s["lower"], s["upper"], s["P"]
    (p, n), m = A.shape, G.shape[0]
    bounded = np.flatnonzero(np.isfinite(lower))
    while True:
        if P is None:
            k_ineq = min(m // 2, n - p - len(bounded) // 2)
            k_bound = n - p - k_ineq
        else:
            k_ineq, k_bound = m // 3, len(bounded) // 2
        at_bound = rng.choice(bounded, size=k_bound, replace=False)
        active = rng.choice(m, size=k_ineq, replace=False)
        if not unique:
            break
        rows = np.vstack([A.toarray(), G[active].toarray(), np.eye(n)[at_bound]])
        if np.linalg.matrix_rank(rows) == rows.shape[0]:
            break
    if plant:
        rows = p + len(active)
        free = np.setdiff1d(np.arange(n), at_bound)
        if len(free) < rows:
            raise ValueError(f"{rows} active rows cannot be matched to {len(free)} free columns")
        cols, sign = rng.permutation(free)[:rows], rng.choice([-1.0, 1.0], rows)
        A = (A + sp.coo_matrix((sign[:p], (np.arange(p), cols[:p])), shape=A.shape)).tocsr()
        G = (G + sp.coo_matrix((sign[p:], (active, cols[p:])), shape=G.shape)).tocsr()
    x = 0.25 + 0.5 * rng.random(n)
    x[~np.isfinite(lower)] = rng.standard_normal((~np.isfinite(lower)).sum())
    z = np.zeros(n)
    for j in at_bound:
        if np.isfinite(upper[j]) and rng.random() < 0.5:
            x[j], z[j] = upper[j], -(0.5 + rng.random())
        else:
            x[j], z[j] = lower[j], 0.5 + rng.random()
    lam = np.zeros(m)
    lam[active] = 0.5 + rng.random(k_ineq)
    slack = np.where(lam > 0, 0, 0.5 + rng.random(m))
    nu = rng.standard_normal(p)
    c = z - A.T @ nu - G.T @ lam - (0 if P is None else P @ x)
    return dict(c=c, b=A @ x, h=G @ x + slack, x=x, nu=nu, lam=lam, z=z, A=A, G=G)


def reference(s: dict[str, Any], inst: dict[str, np.ndarray]) -> tuple[cp.Problem, cp.Variable, list]:
    """The instance solved by Clarabel through cvxpy: the problem, ``x`` and the constraints
    ``[A x == b, G x <= h, x >= lower (finite), x <= upper (finite)]`` holding their duals."""
    x = cp.Variable(inst["A"].shape[1])
    lo, hi = np.flatnonzero(np.isfinite(s["lower"])), np.flatnonzero(np.isfinite(s["upper"]))
    objective = inst["c"] @ x + (0 if s["P"] is None else 0.5 * cp.quad_form(x, cp.psd_wrap(s["P"])))
    cons = [inst["A"] @ x == inst["b"], inst["G"] @ x <= inst["h"], x[lo] >= s["lower"][lo], x[hi] <= s["upper"][hi]]
    prob = cp.Problem(cp.Minimize(objective), cons)
    prob.solve(**CLARABEL)
    return prob, x, cons


def build(kind: str, n: int, seed: int = 0) -> tuple[dict[str, Any], dict[str, Any], np.ndarray]:
    """The family, the planted instance and the loss weights ``w`` of the workload's ``kind`` (lp, qp) at ``n``."""
    rng = np.random.default_rng(seed)
    s = structure(rng, n, max(1, n // 20), n // 2, qp=kind == "qp")
    inst = instance(rng, s, unique=False, plant=True)
    return s, inst, rng.standard_normal(n)


def reference_gradient(s: dict[str, Any], inst: dict[str, Any], w: np.ndarray) -> tuple[list[np.ndarray], float]:
    """The gradient of ``w'x*`` in ``(c, b, h)`` from the active-set KKT system ``K a = (w_S, 0, 0)``, and the solve's
    relative residual: ``dc_S = -a_x``, ``db = a_nu``, ``dh_I = a_lam``, zero elsewhere (sparse LU up to
    :data:`LU_MAX` rows, else LSMR)."""
    free, active = inst["z"] == 0, inst["lam"] > 0
    C = sp.vstack([inst["A"][:, free], inst["G"][active][:, free]]).tocsc()
    k, p = int(free.sum()), inst["A"].shape[0]
    P = sp.csc_matrix((k, k)) if s["P"] is None else s["P"][free][:, free]
    K = sp.bmat([[P, C.T], [C, None]], format="csc")
    rhs = np.concatenate([w[free], np.zeros(C.shape[0])])
    if K.shape[0] <= LU_MAX:
        a = spla.splu(K).solve(rhs)
    else:
        d = np.ones(K.shape[0])
        for _ in range(8):
            scaled = sp.diags(d) @ K @ sp.diags(d)
            d /= np.sqrt(np.sqrt(np.asarray(scaled.multiply(scaled).sum(axis=1)).ravel()))
        scaled = (sp.diags(d) @ K @ sp.diags(d)).tocsr()
        z = np.zeros_like(rhs)
        for _ in range(REFERENCE_PASSES):
            z += spla.lsmr(scaled, d * rhs - scaled @ z, atol=0, btol=1e-13, conlim=0, maxiter=2 * K.shape[0])[0]
        a = d * z
    gc, gh = np.zeros_like(w), np.zeros(inst["G"].shape[0])
    gc[free], gh[active] = -a[:k], a[k + p:]
    return [gc, a[k:k + p], gh], float(np.linalg.norm(K @ a - rhs) / np.linalg.norm(rhs))


def _cpu(fn: Callable[[], Any], runs: int) -> tuple[Any, float]:
    """``fn()`` and the median process CPU seconds of ``runs`` calls after a first one."""
    out = jax.block_until_ready(fn())
    times = []
    for _ in range(runs):
        start = time.process_time()
        out = jax.block_until_ready(fn())
        times.append(time.process_time() - start)
    return out, statistics.median(times)


def _optdsl(s: dict[str, Any], inst: dict[str, Any], w: np.ndarray, runs: int) -> dict[str, Any]:
    """optdsl's PDLP on BCOO data, jitted: forward, and the gradient of ``w'x*`` in ``(c, b, h)``."""
    P = None if s["P"] is None else sparse.BCOO.from_scipy_sparse(s["P"])
    A, G = (sparse.BCOO.from_scipy_sparse(inst[k]) for k in ("A", "G"))
    theta = tuple(jnp.asarray(inst[k]) for k in ("c", "b", "h"))

    def solve(c, b, h):
        return pdlp(c, P=P, A=A, b=b, G=G, h=h, lower=s["lower"], upper=s["upper"], maxiter=200_000)

    forward = jax.jit(solve)
    fwdbwd = jax.jit(jax.value_and_grad(lambda *theta: jnp.asarray(w) @ solve(*theta)[0].x, argnums=(0, 1, 2)))
    (point, aux), fwd_s = _cpu(lambda: forward(*theta), runs)
    (_, grad), fwdbwd_s = _cpu(lambda: fwdbwd(*theta), runs)
    return {"fwd_s": fwd_s, "fwdbwd_s": fwdbwd_s, "status": describe(aux.status), "x": np.asarray(point.x),
            "grad": [np.asarray(g) for g in grad]}


def scale_model(s: dict[str, Any], inst: dict[str, Any]) -> od.Problem:
    """The instance as a model: ``c``, ``b``, ``h`` and the matrices ``A``, ``G`` (a QP's ``B`` too) parameters, the
    finite bounds constraints on the entries they bound."""
    (p, n), m = inst["A"].shape, inst["G"].shape[0]
    x = od.Variable(n, name="x")
    c, b, h = od.Parameter(n, name="c"), od.Parameter(p, name="b"), od.Parameter(m, name="h")
    A, G = od.Parameter((p, n), name="A"), od.Parameter((m, n), name="G")
    lo, hi = np.flatnonzero(np.isfinite(s["lower"])), np.flatnonzero(np.isfinite(s["upper"]))
    objective = c @ x
    if s["B"] is not None:
        B = od.Parameter(s["B"].shape, name="B")
        objective = objective + 0.5 * od.sum_squares(B @ x) + 0.05 * od.sum_squares(x)
    return od.Problem(od.Minimize(objective), [A @ x == b, G @ x <= h, x[lo] >= s["lower"][lo],
                                               x[hi] <= s["upper"][hi]])


def _optdsl_model(s: dict[str, Any], inst: dict[str, Any], w: np.ndarray, runs: int) -> dict[str, Any]:
    """:func:`scale_model` compiled with optdsl's defaults (the compiler picks the solver), BCOO matrix values."""
    compiled = scale_model(s, inst).compile()
    matrices = {k: sparse.BCOO.from_scipy_sparse(m) for k, m in (("A", inst["A"]), ("G", inst["G"]), ("B", s["B"]))
                if m is not None}
    theta = tuple(jnp.asarray(inst[k]) for k in ("c", "b", "h"))

    def solve(theta, matrices):
        return compiled(**dict(zip(("c", "b", "h"), theta)), **matrices)

    forward = jax.jit(solve)
    fwdbwd = jax.jit(jax.value_and_grad(lambda theta, matrices: jnp.asarray(w) @ solve(theta, matrices).x))
    sol, fwd_s = _cpu(lambda: forward(theta, matrices), runs)
    (_, grad), fwdbwd_s = _cpu(lambda: fwdbwd(theta, matrices), runs)
    solver = "pdlp" if "PDLP" in compiled.description else "interior point"
    return {"fwd_s": fwd_s, "fwdbwd_s": fwdbwd_s, "status": f"{sol.status_name()} ({solver})",
            "x": np.asarray(sol.x), "grad": [np.asarray(g) for g in grad]}


def _cvxpylayers(s: dict[str, Any], inst: dict[str, Any], w: np.ndarray, runs: int) -> dict[str, Any]:
    """cvxpylayers at its default settings (:data:`~benchmarks.harness.DIFFCP`), ``c``, ``b``, ``h`` parameters."""
    import cvxpylayers.jax as layers

    (p, n), m = inst["A"].shape, inst["G"].shape[0]
    x, c, b, h = cp.Variable(n), cp.Parameter(n), cp.Parameter(p), cp.Parameter(m)
    lo, hi = np.flatnonzero(np.isfinite(s["lower"])), np.flatnonzero(np.isfinite(s["upper"]))
    objective = c @ x + (0 if s["P"] is None else 0.5 * cp.quad_form(x, cp.psd_wrap(s["P"])))
    problem = cp.Problem(cp.Minimize(objective), [inst["A"] @ x == b, inst["G"] @ x <= h, x[lo] >= s["lower"][lo],
                                                  x[hi] <= s["upper"][hi]])
    layer = layers.CvxpyLayer(problem, parameters=[c, b, h], variables=[x], solver_args=DIFFCP)
    theta = tuple(jnp.asarray(inst[k]) for k in ("c", "b", "h"))
    loss = lambda *theta: jnp.asarray(w) @ layer(*theta)[0]
    x_out, fwd_s = _cpu(lambda: layer(*theta)[0], runs)
    (_, grad), fwdbwd_s = _cpu(lambda: jax.value_and_grad(loss, argnums=(0, 1, 2))(*theta), runs)
    return {"fwd_s": fwd_s, "fwdbwd_s": fwdbwd_s, "status": "-", "x": np.asarray(x_out),
            "grad": [np.asarray(g) for g in grad]}


def _clarabel(s: dict[str, Any], inst: dict[str, Any], w: np.ndarray, runs: int) -> dict[str, Any]:
    """cvxpy + Clarabel at the harness's tight tolerances, forward only (cvxpy's compilation included)."""
    (problem, x, _), fwd_s = _cpu(lambda: reference(s, inst), runs)
    return {"fwd_s": fwd_s, "fwdbwd_s": None, "status": problem.status, "x": x.value, "grad": None}


CONTENDERS: dict[str, Callable[..., dict[str, Any]]] = {"optdsl[pdlp]": _optdsl, "optdsl[model]": _optdsl_model,
                                                        "cvxpylayers": _cvxpylayers, "clarabel": _clarabel}


def row(kind: str, n: int, contender: str, out: Path, isolated: bool = True) -> dict[str, Any]:
    """One contender on one instance, in this process: its figures (returned) and its ``x`` and gradient (``out``).

    ``isolated``: the process is the row's own, so its peak memory is the row's (else it is not reported).
    """
    s, inst, w = build(kind, n)
    result = CONTENDERS[contender](s, inst, w, 3 if n <= 1_000 else 1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if isolated else None
    grad = result.pop("grad")
    np.savez(out, x=result.pop("x"), **({} if grad is None else {f"g{i}": g for i, g in enumerate(grad)}))
    return {**result, "peak_mb": peak}


def _rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _budgeted(kind: str, n: int, contender: str, out: Path) -> tuple[dict[str, Any] | None, str]:
    """:func:`row` in a fresh process, stopped when it exceeds :data:`BUDGET_S` or :data:`BUDGET_MB`."""
    child = subprocess.Popen([sys.executable, "-m", "benchmarks.scale", "--row", kind, str(n), contender, str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[1])
    start = time.perf_counter()
    while child.poll() is None:
        if time.perf_counter() - start > BUDGET_S or _rss_mb(child.pid) > BUDGET_MB:
            child.kill()
            child.wait()
            over = "time" if time.perf_counter() - start > BUDGET_S else "memory"
            return None, f"over the {over} budget ({BUDGET_S:.0f} s, {BUDGET_MB} MB)"
        time.sleep(0.2)
    stdout, stderr = child.communicate()
    if child.returncode != 0:
        return None, f"failed: {(stderr.strip().splitlines() or ['?'])[-1][:120]}"
    return json.loads(stdout.strip().splitlines()[-1]), ""


def measure(kind: str, n: int, isolated: bool = True) -> list[dict[str, Any]]:
    """The rows of every contender on the ``kind`` instance with ``n`` variables (module docstring); each in a
    budgeted process of its own when ``isolated``, else in this one (the quick mode: no budget, no peak memory)."""
    s, inst, w = build(kind, n)
    reference_grad = None
    rows = []
    for contender in CONTENDERS:
        with tempfile.TemporaryDirectory(prefix="optdsl-scale-") as tmp:
            out = Path(tmp) / "out.npz"
            if isolated:
                figures, note = _budgeted(kind, n, contender, out)
            else:
                figures, note = row(kind, n, contender, out, isolated=False), "in process"
            line = {"workload": WORKLOAD, "kind": kind, "size": f"n={n}", "contender": contender, "note": note}
            if figures is not None:
                saved = np.load(out)
                x = saved["x"]
                line.update(figures, sol_err=float(np.max(np.abs(x - inst["x"])) / max(1.0, np.max(np.abs(inst["x"])))))
                if "g0" in saved:
                    if reference_grad is None:
                        reference_grad = reference_gradient(s, inst, w)
                    g_ref, line["ref_residual"] = reference_grad
                    diff = np.sqrt(sum(np.sum((saved[f"g{i}"] - g) ** 2) for i, g in enumerate(g_ref)))
                    line["grad_err"] = float(diff / np.sqrt(sum(np.sum(g ** 2) for g in g_ref)))
        rows.append(line)
    return rows


def run(quick: bool) -> Iterator[list[dict[str, Any]]]:
    """The rows of each (kind, size), as they are measured."""
    for kind in KINDS:
        for n in QUICK if quick else FULL:
            yield measure(kind, n, isolated=not quick)


def crossover_model(n: int, p: int, m: int, qp: bool) -> od.Problem:
    """``min c'x (+ 0.5 x'Px) s.t. A x = b, G x <= h`` over ``x`` declared nonneg, every datum a parameter."""
    x = od.Variable(n, name="x", nonneg=True)
    c, A, b = od.Parameter(n, name="c"), od.Parameter((p, n), name="A"), od.Parameter(p, name="b")
    G, h = od.Parameter((m, n), name="G"), od.Parameter(m, name="h")
    objective = c @ x
    if qp:
        objective = objective + 0.5 * od.quad_form(x, od.Parameter((n, n), name="P", psd=True))
    return od.Problem(od.Minimize(objective), [A @ x == b, G @ x <= h])


def _cpu_s(fn, args: tuple, runs: int) -> tuple[Any, float]:
    """The output of ``fn(*args)`` and the median process CPU time of ``runs`` calls after a first one."""
    out = jax.block_until_ready(fn(*args))
    times = []
    for _ in range(runs):
        start = time.process_time()
        jax.block_until_ready(fn(*args))
        times.append(time.process_time() - start)
    return out, statistics.median(times)


def measure_crossover(n: int, qp: bool, runs: int, seed: int = 0) -> dict[str, Any]:
    """One row of the crossover table (module docstring): an instance with ``n`` variables, ``x >= 0``."""
    rng = np.random.default_rng(seed)
    p, m = max(1, n // 20), n // 2
    s = structure(rng, n, p, m, qp)
    s["lower"], s["upper"] = np.zeros(n), np.full(n, np.inf)
    inst = instance(rng, s, unique=False)
    params = {"c": inst["c"], "A": s["A"].toarray(), "b": inst["b"], "G": s["G"].toarray(), "h": inst["h"]}
    if qp:
        params["P"] = s["P"].toarray()
    params = {k: jnp.asarray(v) for k, v in params.items()}
    weights = jnp.asarray(rng.standard_normal(n))
    row: dict[str, Any] = {"n": n, "qp": qp, "kkt_size": n + p + m + n}
    results = {}
    for solver in ("interior_point", "pdlp"):
        compiled = crossover_model(n, p, m, qp).compile(solver=solver)
        solve = jax.jit(lambda params: compiled(**params))
        loss = jax.jit(jax.grad(lambda params: weights @ compiled(**params).x))
        sol, row[f"{solver}_s"] = _cpu_s(solve, (params,), runs)
        grad, row[f"{solver}_grad_s"] = _cpu_s(loss, (params,), runs)
        row[f"{solver}_status"] = describe(sol.status)
        results[solver] = (np.asarray(sol.x), grad)
    (x_ip, g_ip), (x_pd, g_pd) = results["interior_point"], results["pdlp"]
    row["x_err"] = float(np.max(np.abs(x_pd - x_ip)))
    row["grad_err"] = max(float(np.max(np.abs(g_pd[k] - g_ip[k])) / max(1.0, np.max(np.abs(g_ip[k]))))
                          for k in g_ip)
    return row


def measure_factorisation(n: int, runs: int, seed: int = 0) -> dict[str, Any]:
    """One row of the ``--factor`` table: the interior point's Newton matrix on the scale LP with ``n`` variables,
    ``[[D, A', G'], [A, -eps I, 0], [G, 0, -W]]`` with seeded positive diagonals ``D``, ``W`` (the barrier terms),
    factorised and solved by scipy's SuperLU (COLAMD, and the symmetric mode on ``A + A'`` by minimum degree)
    and by JAX's dense LU, in process CPU seconds; ``fill`` is the LU's stored entries over ``N^2``."""
    s, inst, _ = build("lp", n, seed)
    A, G = inst["A"], inst["G"]
    rng = np.random.default_rng(seed)
    K = sp.bmat([[sp.diags(rng.uniform(1e-3, 1e3, n)), A.T, G.T], [A, -1e-9 * sp.eye(A.shape[0]), None],
                 [G, None, -sp.diags(rng.uniform(1e-3, 1e3, G.shape[0]))]], format="csc")
    N, rhs = K.shape[0], np.ones(K.shape[0])
    row: dict[str, Any] = {"n": n, "kkt_size": N, "nnz": K.nnz}
    for name, options in (("superlu_colamd", {}), ("superlu_symmetric", dict(
            permc_spec="MMD_AT_PLUS_A", options=dict(SymmetricMode=True), diag_pivot_thresh=0.0))):
        lu, row[f"{name}_s"] = _cpu_s(lambda K, b: spla.splu(K, **options), (K, rhs), runs)
        row[f"{name}_fill"] = (lu.L.nnz + lu.U.nnz) / N ** 2
    dense = jax.jit(lambda K, b: jax.scipy.linalg.lu_solve(jax.scipy.linalg.lu_factor(K), b))
    _, row["dense_lu_s"] = _cpu_s(dense, (jnp.asarray(K.toarray()), jnp.asarray(rhs)), runs)
    return row


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table (every key of any row a column)."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    cell = lambda v: f"{v:.3g}" if isinstance(v, float) else ("-" if v is None else str(v))
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    return "\n".join(lines + ["| " + " | ".join(cell(r.get(k)) for k in keys) + " |" for r in rows])


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only n = 100")
    parser.add_argument("--crossover", action="store_true", help="interior point against PDLP on compiled models")
    parser.add_argument("--row", nargs=4, metavar=("KIND", "N", "CONTENDER", "OUT"),
                        help="measure one row in this process and print it as JSON (what the workload runs)")
    parser.add_argument("--factor", action="store_true",
                        help="the interior point's Newton matrix: sparse LU against dense LU")
    parser.add_argument("--runs", type=int, default=3, help="crossover, factor: timed calls after the first (median)")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    jax.config.update("jax_enable_x64", True)
    if args.row:
        kind, n, contender, out = args.row
        print(json.dumps(row(kind, int(n), contender, Path(out))))
        return []
    if args.factor:
        rows = []
        for n in FACTOR:
            rows.append(measure_factorisation(n, args.runs))
            print(rows[-1], flush=True)
    elif args.crossover:
        rows = []
        for qp in (False, True):
            for n in CROSSOVER:
                rows.append(measure_crossover(n, qp, args.runs))
                print(rows[-1], flush=True)
    else:
        rows = []
        for batch in run(args.quick):
            rows += batch
            print(table(batch), flush=True)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
