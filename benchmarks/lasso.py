"""Lasso hyper-gradient with respect to the penalty.

    x*(λ) = argmin_x 0.5 ‖Ax − b‖² + λ‖x‖₁,      loss(λ) = 0.5 mean((A_val x*(λ) − b_val)²)

Sizes: A 100×50 and 500×200. Contenders: optdsl (proximal gradient, implicit and
unrolled), hand-written JAXopt ProximalGradient (implicit and unrolled), and
cvxpylayers. The iterative contenders all run the same number of iterations
(the size label gives it): their tolerances are zero, or the least positive
float optdsl accepts, so only an exactly vanishing residual could stop one
early, and the case checks that none did. The times then compare equal work;
the errors show what each reaches with it.
"""

from __future__ import annotations

import time

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np

import optdsl as od
from benchmarks.harness import CLARABEL, DIFFCP, Case, Contender, directional_fd, optional
from benchmarks.iterations import equal_iterations

#: Sizes ``(m, n)`` and the iterations every iterative contender runs there: at 100×50 optdsl's
#: residual is exactly zero after about 40 iterations, and it stops.
FULL = [(100, 50, 30), (500, 200, 500)]
QUICK = [(20, 10, 80)]
#: optdsl's tolerance: the least positive float64, so that only a residual of exactly zero stops it.
TOL = float(np.finfo(np.float64).tiny)


def make_data(m: int, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Sparse regression, training and validation halves; λ at a tenth of λ_max (a sparse solution)."""
    rng = np.random.default_rng(seed)
    w_true = np.where(rng.random(n) < 0.2, rng.normal(size=n), 0.0)
    A = rng.normal(size=(2 * m, n))
    b = A @ w_true + 0.5 * rng.normal(size=2 * m)
    return {"A": A[:m], "b": b[:m], "A_val": A[m:], "b_val": b[m:], "lam": 0.1 * np.max(np.abs(A[:m].T @ b[:m]))}


def reference(d: dict[str, np.ndarray], lam: float) -> np.ndarray:
    x = cp.Variable(d["A"].shape[1])
    cp.Problem(cp.Minimize(0.5 * cp.sum_squares(d["A"] @ x - d["b"]) + lam * cp.norm1(x))).solve(**CLARABEL)
    return x.value


def _val_loss(d, x):
    return 0.5 * jnp.mean((d["A_val"] @ x - d["b_val"]) ** 2)


def _contender(name: str, solve_x, d, build: float = 0.0, jitted: bool = True) -> Contender:
    """A contender from ``(lam, data) -> x``; differentiated with respect to ``lam``."""
    def fwdbwd(lam, d):
        loss, g = jax.value_and_grad(lambda lam: _val_loss(d, solve_x(lam, d)))(lam)
        return loss, (g,)

    return Contender(name, solve_x, fwdbwd, (jnp.asarray(d["lam"]), d), jitted=jitted, build_s=build)


def _contenders(m: int, n: int, iterations: int, d: dict[str, jax.Array]) -> tuple[list[Contender], dict]:
    """The contenders, and for the iterative ones ``(lam, data) -> iterations taken``."""
    x = od.Variable(n, name="x")
    A, b = od.Parameter((m, n), name="A"), od.Parameter(m, name="b")
    lam = od.Parameter(nonneg=True, name="lam")
    problem = od.Problem(od.Minimize(0.5 * od.sum_squares(A @ x - b) + lam * od.norm1(x)))
    out, counts = [], {}
    for diff in ("implicit", "unrolled"):
        start = time.perf_counter()
        solve = problem.compile(diff=diff, tol=TOL, maxiter=iterations)
        build = time.perf_counter() - start

        def run(lam, d, solve=solve):
            return solve(A=d["A"], b=d["b"], lam=lam)

        out.append(_contender(f"optdsl[{solve.method},{diff}]", lambda lam, d, run=run: run(lam, d).x, d, build))
        counts[out[-1].name] = lambda lam, d, run=run: run(lam, d).iterations

    jaxopt = optional("jaxopt")
    if jaxopt is not None:
        def least_squares(x, A, b):
            return 0.5 * jnp.sum((A @ x - b) ** 2)

        for diff in ("implicit", "unrolled"):
            pg = jaxopt.ProximalGradient(fun=least_squares, prox=jaxopt.prox.prox_lasso, tol=0.0, maxiter=iterations,
                                         implicit_diff=diff == "implicit")

            def run(lam, d, pg=pg):
                return pg.run(jnp.zeros(n, d["A"].dtype), hyperparams_prox=lam, A=d["A"], b=d["b"])

            out.append(_contender(f"jaxopt-ProximalGradient[{diff}]", lambda lam, d, run=run: run(lam, d).params, d))
            counts[out[-1].name] = lambda lam, d, run=run: run(lam, d).state.iter_num

    layers = optional("cvxpylayers.jax")
    if layers is not None:
        start = time.perf_counter()
        xc, lam_p = cp.Variable(n), cp.Parameter(nonneg=True)
        A0, b0 = np.asarray(d["A"]), np.asarray(d["b"])
        problem_c = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A0 @ xc - b0) + lam_p * cp.norm1(xc)))
        layer = layers.CvxpyLayer(problem_c, parameters=[lam_p], variables=[xc], solver_args=DIFFCP)
        build = time.perf_counter() - start
        out.append(_contender("cvxpylayers", lambda lam, d: layer(lam)[0], d, build, jitted=False))
    return out, counts


def case(m: int, n: int, iterations: int) -> Case:
    """One size: seeded data, the reference, the contenders (checked to run ``iterations`` iterations)."""
    data = make_data(m, n)
    lam = float(data["lam"])

    def loss(t: float) -> float:
        return 0.5 * float(np.mean((data["A_val"] @ reference(data, lam + t) - data["b_val"]) ** 2))

    fd = directional_fd(loss, 1e-4 * lam)
    jdata = {key: jnp.asarray(v) for key, v in data.items()}
    contenders, counts = _contenders(m, n, iterations, jdata)
    return Case("lasso", equal_iterations(f"A {m}x{n}", iterations, counts, (jnp.asarray(lam), jdata)), contenders,
                reference(data, lam), np.asarray, (np.ones(()),), fd)


def cases(quick: bool) -> list[Case]:
    return [case(*sizes) for sizes in (QUICK if quick else FULL)]
