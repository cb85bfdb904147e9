"""Jacobian precision: Jacobian error against solution error (Blondel et al. 2021, §2.3, Fig. 2 and Fig. 15).

A solver stopped after t iterations returns an approximate solution x̂ of
``x*(θ)``. Implicit differentiation evaluates the implicit-function-theorem
formula ``J(x̂, θ) = −∂₁F(x̂, θ)⁻¹ ∂₂F(x̂, θ)`` at x̂; unrolling differentiates the
t iterations themselves. The paper shows that the implicit Jacobian error is
bounded by a constant times the solution error ``‖x̂ − x*‖``. Both problems are
declared in optdsl and compiled with ``maxiter=t`` (and a tolerance too small to
stop earlier), once with ``diff="implicit"`` and once with ``diff="unrolled"``:

* ridge regression ``min_x ½‖Ax − b‖² + (θ/2)‖x‖²`` (stationarity map, L-BFGS);
  the truth is closed form, ``x* = (AᵀA + θI)⁻¹Aᵀb``, ``∂x*/∂θ = −(AᵀA + θI)⁻¹x*``;
* the multiclass-SVM dual of ``svm_hyperparameter.py`` (projected-gradient map,
  FISTA); the truth is a central finite difference of solutions computed to 1e-12.

Figure: Jacobian error against solution error, log–log, for both problems.

    python examples/jacobian_precision.py [--quick] [--out DIR]
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

import optdsl as od
from optdsl.runtime.compiled import CompiledProblem
from example_tools import parse_args, plt, save_figure
from svm_hyperparameter import make_data, svm_dual

jax.config.update("jax_enable_x64", True)

THETA = 1.0
#: Below any error reached here: the solvers run exactly ``maxiter`` iterations.
NEVER_STOP = 1e-300


def ridge_instance(m: int = 60, n: int = 20, seed: int = 0) -> tuple[od.Problem, dict, str, Callable, dict]:
    """Ridge regression with singular values of A from 0.1 to 3, solved by L-BFGS (Newton would take one step)."""
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.normal(size=(m, n)))
    V, _ = np.linalg.qr(rng.normal(size=(n, n)))
    A0 = U @ np.diag(np.geomspace(0.1, 3.0, n)) @ V.T
    b0 = A0 @ rng.normal(size=n) + 0.1 * rng.normal(size=m)
    x = od.Variable(n, name="x")
    A, b, theta = od.Parameter((m, n), name="A"), od.Parameter(m, name="b"), od.Parameter(nonneg=True, name="theta")
    problem = od.Problem(od.Minimize(0.5 * od.sum_squares(A @ x - b) + 0.5 * theta * od.sum_squares(x)))

    def truth(theta_value):
        H = A0.T @ A0 + theta_value * np.eye(n)
        x_star = np.linalg.solve(H, A0.T @ b0)
        return x_star, -np.linalg.solve(H, x_star)

    return problem, {"A": jnp.asarray(A0), "b": jnp.asarray(b0)}, "x", truth, {"solver": "lbfgs"}


def svm_instance(m: int = 40, p: int = 80, k: int = 3) -> tuple[od.Problem, dict, str, Callable, dict]:
    """The multiclass-SVM dual (p > m, so the solution is unique); truth by central differences."""
    data = make_data(m, 10, k, p, seed=2)
    problem = svm_dual(m, p, k)
    params = {"X": data["X"], "Y": data["Y"]}
    tight = problem.compile(tol=1e-12, maxiter=200_000)
    solve = jax.jit(lambda t: tight(**params, theta=t)["beta"].ravel())

    def truth(theta_value, h=1e-5):
        return np.asarray(solve(theta_value)), np.asarray((solve(theta_value + h) - solve(theta_value - h)) / (2 * h))

    return problem, params, "beta", truth, {}


def solution_and_jacobian(solve: CompiledProblem, params: dict, name: str):
    """Jitted ``θ -> (x̂(θ), ∂x̂/∂θ)`` for variable ``name``, flattened (a forward-mode product)."""
    def x_hat(theta):
        return solve(**params, theta=theta)[name].ravel()

    return jax.jit(lambda theta: jax.jvp(x_hat, (theta,), (jnp.ones_like(theta),)))


def errors(problem: od.Problem, params: dict, name: str, truth: Callable, options: dict,
           budgets: tuple[int, ...], label: str) -> dict[str, np.ndarray]:
    """Solution and Jacobian errors (implicit and unrolled) after ``t`` iterations, for each budget ``t``."""
    x_star, jac_star = truth(THETA)
    rows = []
    for t in tqdm(budgets, desc=label):
        row = []
        for diff in ("implicit", "unrolled"):
            solve = problem.compile(maxiter=t, tol=NEVER_STOP, diff=diff, **options)
            x_t, jac = solution_and_jacobian(solve, params, name)(jnp.asarray(THETA))
            row.append(float(np.linalg.norm(jac - jac_star)))
        rows.append([float(np.linalg.norm(x_t - x_star)), *row])
    solution, implicit, unrolled = np.asarray(rows).T
    return {"budgets": np.asarray(budgets), "solution": solution, "implicit": implicit, "unrolled": unrolled}


def plot(results: dict[str, dict], out: Path) -> None:
    fig, axes = plt.subplots(1, len(results), figsize=(10, 4))
    for ax, (label, r) in zip(axes, results.items()):
        ax.loglog(r["solution"], r["implicit"], "-o", label="implicit differentiation")
        ax.loglog(r["solution"], r["unrolled"], "--s", label="unrolling")
        ax.set_xlabel(r"solution error $\|\hat x - x^\star\|$")
        ax.set_title(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    axes[0].set_ylabel(r"Jacobian error $\|\partial \hat x - \partial x^\star\|$")
    fig.tight_layout()
    save_figure(fig, out, "jacobian_precision.png")


def main(quick: bool = False, out: Path = Path("figures")) -> dict[str, float]:
    ridge_budgets = (4, 20) if quick else tuple(range(1, 31, 2))
    svm_budgets = (10, 40) if quick else (4, 6, 8, 10, 15, 20, 25, 30, 35, 40, 50)
    results = {"ridge regression (L-BFGS)": errors(*ridge_instance(), ridge_budgets, "ridge"),
               "multiclass SVM dual (projected gradient)": errors(*svm_instance(), svm_budgets, "svm")}
    numbers = {}
    for (label, r), key in zip(results.items(), ("ridge", "svm")):
        for t, s, i, u in zip(r["budgets"], r["solution"], r["implicit"], r["unrolled"]):
            print(f"{key} t={t}: solution error {s:.3e}, jacobian error implicit {i:.3e}, unrolled {u:.3e}")
        numbers[f"{key}_max_ratio_implicit"] = float(np.max(r["implicit"] / r["solution"]))
        numbers[f"{key}_final_solution_error"] = float(r["solution"][-1])
        numbers[f"{key}_final_implicit_error"] = float(r["implicit"][-1])
        numbers[f"{key}_final_unrolled_error"] = float(r["unrolled"][-1])
        print(f"{key}: implicit Jacobian error / solution error at most {numbers[f'{key}_max_ratio_implicit']:.3f}")
    plot(results, out)
    return numbers


if __name__ == "__main__":
    args = parse_args(__doc__)
    main(args.quick, args.out)
