"""Multiclass-SVM hyperparameter optimisation by implicit differentiation (Blondel et al. 2021, §3.1, App. F.1).

The inner problem is the dual of the multiclass SVM, declared in optdsl with
row-wise simplex constraints (one probability vector per training sample):

    β*(θ) = argmin_{β ≥ 0, β 1 = 1}  ‖Xᵀ(Y − β)‖² / (2θ) + ⟨β, Y⟩,     W(β, θ) = Xᵀ(Y − β) / θ

(that is ``(θ/2)‖W‖² + ⟨β, Y⟩``). The outer problem tunes ``θ = exp(λ)`` by
gradient descent on the validation cross-entropy of the scores ``X_val W``.
The compiler lowers the dual twice: the projected-gradient fixed point (FISTA
with a row-wise simplex projection) and, with ``method="mirror"``, the KL
mirror-descent fixed point (exponentiated gradient). Each map is differentiated
implicitly and, for comparison, by unrolling the solver's iterations, with the
same inner budget (``maxiter``, ``tol``) in both modes. Unrolling keeps every
inner iteration for the backward pass: a run whose compiled outer step needs
more than ``MEMORY_BUDGET`` of scratch memory is skipped, and says so.

Data: scikit-learn's ``make_classification`` with m = 700 training and 200
validation samples, k = 5 classes, p features of which 10 % are informative
(standardised, then scaled by 1/√p so that ``‖x_i‖ ≈ 1`` whatever p).

Figures: runtime per outer step against p (the paper's Fig. 3) and the final
validation loss against p (Fig. 14). A central finite difference checks the
implicit hyper-gradient of both maps on a small instance solved to 1e-10.

    python examples/svm_hyperparameter.py [--quick] [--out DIR]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.datasets import make_classification
from tqdm import tqdm

import optdsl as od
from optdsl.runtime.compiled import CompiledProblem
from example_tools import parse_args, plt, save_figure, timed

jax.config.update("jax_enable_x64", True)

#: The two optimality maps and the two ways of differentiating them.
MAPS = ("projected_gradient", "mirror")
DIFFS = ("implicit", "unrolled")
#: Runs whose compiled outer step needs more scratch memory than this are skipped (the machine is shared).
MEMORY_BUDGET = 8e9


@dataclass(frozen=True)
class Setup:
    """Sizes and budgets of one run."""

    m: int  # training samples
    m_val: int  # validation samples
    k: int  # classes
    features: tuple[int, ...]  # the values of p
    steps: int  # outer gradient steps on lambda
    lr: float  # outer step size
    maxiter: int  # inner iteration budget (also the unrolled scan length)
    tol: float  # inner tolerance
    lam0: float = 1.0  # initial log-regularisation


FULL = Setup(m=700, m_val=200, k=5, features=(100, 250, 500, 1000, 2000, 5000), steps=10, lr=5.0,
             maxiter=200, tol=1e-6)
QUICK = Setup(m=60, m_val=40, k=5, features=(100,), steps=3, lr=5.0, maxiter=100, tol=1e-6)


def make_data(m: int, m_val: int, k: int, p: int, seed: int = 0) -> dict[str, jax.Array]:
    """Training and validation sets with one-hot labels (10 % informative features)."""
    X, y = make_classification(n_samples=m + m_val, n_features=p, n_informative=max(2, p // 10),
                               n_classes=k, random_state=seed)
    X = (X - X.mean(axis=0)) / X.std(axis=0) / np.sqrt(p)
    Y = np.eye(k)[y]
    return {"X": jnp.asarray(X[:m]), "Y": jnp.asarray(Y[:m]),
            "X_val": jnp.asarray(X[m:]), "Y_val": jnp.asarray(Y[m:])}


def svm_dual(m: int, p: int, k: int) -> od.Problem:
    """The multiclass SVM dual over β (m × k), one simplex per row."""
    beta = od.Variable((m, k), name="beta")
    X, Y = od.Parameter((m, p), name="X"), od.Parameter((m, k), name="Y")
    theta = od.Parameter(nonneg=True, name="theta")
    objective = 0.5 * od.sum_squares(X.T @ (Y - beta)) / theta + od.sum(od.multiply(beta, Y))
    return od.Problem(od.Minimize(objective), [beta >= 0, od.sum(beta, axis=1) == 1])


def validation_loss(solve: CompiledProblem, data: dict[str, jax.Array]):
    """``λ -> (validation cross-entropy, inner solution)`` for a compiled dual."""
    def loss(lam):
        theta = jnp.exp(lam)
        sol = solve(X=data["X"], Y=data["Y"], theta=theta)
        W = data["X"].T @ (data["Y"] - sol["beta"]) / theta
        scores = data["X_val"] @ W
        cross_entropy = jax.nn.logsumexp(scores, axis=1) - jnp.sum(scores * data["Y_val"], axis=1)
        return jnp.mean(cross_entropy), sol

    return loss


def compile_dual(problem: od.Problem, map_name: str, diff: str, setup: Setup) -> CompiledProblem:
    """The dual compiled with one optimality map and one differentiation mode."""
    method = {"mirror": "mirror"}.get(map_name)
    solve = problem.compile(method=method, diff=diff, maxiter=setup.maxiter, tol=setup.tol)
    assert solve.method == map_name, solve.method
    return solve


def optimise(problem: od.Problem, data: dict[str, jax.Array], map_name: str, diff: str,
             setup: Setup) -> dict[str, float]:
    """Gradient descent on λ; returns the mean time per outer step and the validation losses.

    The outer step is compiled ahead of time; if XLA says it needs more than
    ``MEMORY_BUDGET`` bytes of scratch memory (unrolling stores every inner
    iteration for the backward pass), the run is skipped and only that is returned.
    """
    loss = validation_loss(compile_dual(problem, map_name, diff, setup), data)
    lam = jnp.asarray(setup.lam0)
    step = jax.jit(jax.value_and_grad(loss, has_aux=True)).lower(lam).compile()
    memory = step.memory_analysis()
    needed = float(memory.temp_size_in_bytes) if memory is not None else 0.0
    if needed > MEMORY_BUDGET:
        return {"memory_gb": needed / 1e9}
    (first, _), _ = step(lam)
    times, solved = [], 0
    for _ in tqdm(range(setup.steps), desc=f"p={data['X'].shape[1]} {map_name} {diff}", leave=False):
        ((_, sol), grad), seconds = timed(step, lam)
        times.append(seconds)
        solved += int(sol.status == 0)
        lam = lam - setup.lr * grad
    (final, _), _ = step(lam)
    return {"memory_gb": needed / 1e9, "time_per_step": float(np.mean(times)), "val_loss_first": float(first),
            "val_loss_final": float(final), "lambda_final": float(lam), "inner_solved": solved}


def gradient_check(map_name: str, lam: float = 0.5, h: float = 1e-4) -> tuple[float, float]:
    """Implicit hyper-gradient vs a central finite difference, on a small instance solved to 1e-10."""
    data = make_data(m=60, m_val=40, k=4, p=80, seed=1)
    solve = svm_dual(60, 80, 4).compile(method={"mirror": "mirror"}.get(map_name), tol=1e-10, maxiter=100_000)
    value_and_grad = jax.jit(jax.value_and_grad(lambda t: validation_loss(solve, data)(t)[0]))
    grad = float(value_and_grad(lam)[1])
    fd = float((value_and_grad(lam + h)[0] - value_and_grad(lam - h)[0]) / (2 * h))
    return grad, fd


def plot(results: dict, features: tuple[int, ...], out: Path) -> None:
    """Runtime per outer step vs p (Fig. 3) and final validation loss vs p (Fig. 14)."""
    styles = {"implicit": "-o", "unrolled": "--s"}
    for key, name, ylabel in (("time_per_step", "svm_runtime.png", "seconds per outer step"),
                              ("val_loss_final", "svm_validation_loss.png", "final validation loss")):
        fig, axes = plt.subplots(1, len(MAPS), figsize=(10, 3.8), sharey=key == "val_loss_final")
        for ax, map_name in zip(axes, MAPS):
            for diff in DIFFS:
                ran = [p for p in features if key in results[p, map_name, diff]]
                ax.plot(ran, [results[p, map_name, diff][key] for p in ran], styles[diff], label=diff)
            if len(features) > 1:
                ax.set_xscale("log")
            ax.set_xticks(list(features), [str(p) for p in features])
            if key == "time_per_step":
                ax.set_yscale("log")
            else:
                ax.ticklabel_format(axis="y", style="plain", useOffset=False)
            ax.set_title(map_name.replace("_", " "))
            ax.set_xlabel("number of features p")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
        axes[0].set_ylabel(ylabel)
        fig.tight_layout()
        save_figure(fig, out, name)


def main(quick: bool = False, out: Path = Path("figures")) -> dict[str, float]:
    setup = QUICK if quick else FULL
    numbers: dict[str, float] = {}
    for map_name in MAPS:
        grad, fd = gradient_check(map_name)
        print(f"gradient check {map_name}: implicit {grad:.10f}, finite difference {fd:.10f}, "
              f"relative difference {abs(grad - fd) / abs(fd):.1e}")
        numbers[f"grad_{map_name}"], numbers[f"fd_{map_name}"] = grad, fd

    results = {}
    for p in tqdm(setup.features, desc="features p"):
        data = make_data(setup.m, setup.m_val, setup.k, p)
        problem = svm_dual(setup.m, p, setup.k)
        for map_name in MAPS:
            for diff in DIFFS:
                r = optimise(problem, data, map_name, diff, setup)
                results[p, map_name, diff] = r
                numbers.update({f"{key}_{p}_{map_name}_{diff}": value for key, value in r.items()})
                if "time_per_step" not in r:
                    print(f"p={p} map={map_name} diff={diff}: skipped, the compiled outer step needs "
                          f"{r['memory_gb']:.1f} GB of scratch memory (budget {MEMORY_BUDGET / 1e9:.0f} GB)")
                    continue
                print(f"p={p} map={map_name} diff={diff}: time per outer step {r['time_per_step']:.4f} s, "
                      f"validation loss {r['val_loss_first']:.6f} -> {r['val_loss_final']:.6f}, "
                      f"lambda {setup.lam0:.3f} -> {r['lambda_final']:.4f}, "
                      f"inner solves converged {r['inner_solved']}/{setup.steps}, "
                      f"scratch memory {r['memory_gb']:.2f} GB")
    plot(results, setup.features, out)
    return numbers


if __name__ == "__main__":
    args = parse_args(__doc__)
    main(args.quick, args.out)
