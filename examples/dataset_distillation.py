"""Dataset distillation on scikit-learn's digits (Blondel et al. 2021, §3.3).

Learn one 8 × 8 prototype image per class such that a classifier trained on
the ten prototypes alone does well on the whole training set. The inner problem,
declared in optdsl, is l2-regularised multinomial logistic regression on the
prototypes ``P`` (10 × 64), one prototype per class (prototype i has label i):

    W*(P) = argmin_W  Σ_i [log Σ_c exp((P W)_ic) − (P W)_ii] + (reg/2) ‖W‖²

The compiler lowers it to the stationarity map ``∇_W f = 0`` (L-BFGS); the outer
problem minimises the training cross-entropy of ``W*(P)`` over ``P`` with Adam
(optax). The gradient with respect to the 640 pixels comes from implicit
differentiation (one conjugate-gradient solve with the Hessian); for comparison
the same run is repeated with the solver unrolled. A central finite difference
along a random direction checks the implicit gradient, and the held-out accuracy
of the classifier trained on the prototypes is reported (chance is 0.1).

Figures: the ten learned prototypes (the paper's Fig. 5) and the training loss
of the implicit and unrolled runs against outer steps.

    python examples/dataset_distillation.py [--quick] [--out DIR]
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import optdsl as od
from example_tools import parse_args, plt, save_figure, timed
from optdsl.runtime.compiled import CompiledProblem

jax.config.update("jax_enable_x64", True)

CLASSES, PIXELS = 10, 64
REG = 0.1  # l2 regularisation of the inner logistic regression
LEARNING_RATE = 0.05
#: The prototypes start as small noise: at exactly zero, W = 0 is already optimal (see ``zero_start``).
INIT_SCALE = 1e-3
#: Iteration budget of the inner L-BFGS (also the length of the unrolled scan); it converges in < 60.
MAXITER = 60


def load_data(seed: int = 0) -> dict[str, jax.Array]:
    """Digits scaled to [0, 1], split 70 / 30 into training and held-out sets (stratified)."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.3, random_state=seed,
                                                        stratify=y)
    return {"X": jnp.asarray(X_train), "Y": jax.nn.one_hot(y_train, CLASSES, dtype=jnp.float64),
            "X_test": jnp.asarray(X_test), "y_test": jnp.asarray(y_test)}


def distillation_problem(reg: float = REG) -> od.Problem:
    """Multinomial logistic regression of the prototypes (prototype i has label i)."""
    W = od.Variable((PIXELS, CLASSES), name="W")
    P = od.Parameter((CLASSES, PIXELS), name="prototypes")
    scores = P @ W  # 10 x 10; the diagonal holds each prototype's score for its own class
    return od.Problem(od.Minimize(od.sum(od.log_sum_exp(scores, axis=1)) - od.trace(scores)
                                  + 0.5 * reg * od.sum_squares(W)))


def training_loss(solve: CompiledProblem, data: dict[str, jax.Array]):
    """``P -> (mean training cross-entropy of W*(P), inner solution)``."""
    def loss(prototypes):
        sol = solve(prototypes=prototypes)
        logits = data["X"] @ sol["W"]
        return jnp.mean(jax.nn.logsumexp(logits, axis=1) - jnp.sum(logits * data["Y"], axis=1)), sol

    return loss


def distill(step, init: jax.Array, steps: int, label: str) -> dict:
    """Adam on the prototypes; returns them, the loss curve and the mean time per outer step.

    ``step``: jitted ``P -> ((loss, inner solution), gradient)``, already compiled.
    """
    optimizer = optax.adam(LEARNING_RATE)
    prototypes, state = init, optimizer.init(init)
    losses, times = [], []
    for _ in tqdm(range(steps), desc=f"distillation ({label})"):
        ((loss, _), grad), seconds = timed(step, prototypes)
        losses.append(float(loss))
        times.append(seconds)
        updates, state = optimizer.update(grad, state)
        prototypes = optax.apply_updates(prototypes, updates)
    (final, sol), _ = step(prototypes)
    losses.append(float(final))
    return {"prototypes": prototypes, "losses": losses, "time_per_step": float(np.mean(times)), "W": sol["W"]}


def gradient_check(step, prototypes: jax.Array, h: float = 1e-5) -> tuple[float, float]:
    """Directional derivative of the training loss: implicit gradient vs a central finite difference."""
    direction = jnp.asarray(np.random.default_rng(1).normal(size=prototypes.shape))
    implicit = float(jnp.vdot(step(prototypes)[1], direction))
    fd = float((step(prototypes + h * direction)[0][0] - step(prototypes - h * direction)[0][0]) / (2 * h))
    return implicit, fd


def zero_start(step) -> float:
    """Gradient norm at ``P = 0``, where the solver's start ``W = 0`` is already optimal.

    The solver then takes no iteration, so the unrolled derivative is exactly
    zero, while the implicit one (from the optimality condition) is not.
    """
    return float(jnp.linalg.norm(step(jnp.zeros((CLASSES, PIXELS)))[1]))


def plot_prototypes(prototypes: jax.Array, out: Path) -> None:
    """The ten distilled images, one per digit."""
    images = np.asarray(prototypes).reshape(-1, 8, 8)
    fig, axes = plt.subplots(2, 5, figsize=(8.8, 3.6))
    for digit, ax in enumerate(axes.flat):
        shown = ax.imshow(images[digit], cmap="gray_r", vmin=images.min(), vmax=images.max())
        ax.set_title(str(digit))
        ax.axis("off")
    fig.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.8, label="pixel value (one scale for all ten)")
    fig.suptitle("distilled digits: one learned prototype per class")
    save_figure(fig, out, "distilled_prototypes.png")


def plot_losses(runs: dict[str, dict], out: Path) -> None:
    """Training loss against outer steps, implicit vs unrolled."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for (label, run), style in zip(runs.items(), ("-", "--")):
        ax.plot(run["losses"], style, label=f"{label} ({run['time_per_step'] * 1e3:.1f} ms / step)")
    ax.set_xlabel("outer step (Adam)")
    ax.set_ylabel("training cross-entropy")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    save_figure(fig, out, "distillation_loss.png")


def main(quick: bool = False, out: Path = Path("figures")) -> dict[str, float]:
    steps = 60 if quick else 400
    data = load_data()
    problem = distillation_problem()
    print(problem, end="\n\n")
    init = jnp.asarray(np.random.default_rng(0).normal(scale=INIT_SCALE, size=(CLASSES, PIXELS)))
    solves = {diff: problem.compile(maxiter=MAXITER, diff=diff) for diff in ("implicit", "unrolled")}
    print(f"method chosen by the compiler: {solves['implicit'].method}")
    outer_steps = {diff: jax.jit(jax.value_and_grad(training_loss(solve, data), has_aux=True))
                   for diff, solve in solves.items()}

    implicit, fd = gradient_check(outer_steps["implicit"], init)
    print(f"gradient check (random direction): implicit {implicit:.10f}, finite difference {fd:.10f}, "
          f"relative difference {abs(implicit - fd) / abs(fd):.1e}")

    zero_implicit, zero_unrolled = (zero_start(outer_steps[diff]) for diff in ("implicit", "unrolled"))
    print(f"gradient norm at prototypes = 0 (W = 0 already optimal, 0 solver iterations): "
          f"implicit {zero_implicit:.6f}, unrolled {zero_unrolled:.6f}")

    runs = {diff: distill(step, init, steps, diff) for diff, step in outer_steps.items()}
    numbers = {"grad_implicit": implicit, "grad_fd": fd, "zero_grad_implicit": zero_implicit,
               "zero_grad_unrolled": zero_unrolled}
    for label, run in runs.items():
        print(f"{label}: time per outer step {run['time_per_step']:.5f} s, "
              f"training loss {run['losses'][0]:.6f} -> {run['losses'][-1]:.6f}")
        numbers[f"time_{label}"] = run["time_per_step"]
        numbers[f"loss_first_{label}"], numbers[f"loss_final_{label}"] = run["losses"][0], run["losses"][-1]
    print(f"speed-up of implicit over unrolled differentiation: "
          f"{runs['unrolled']['time_per_step'] / runs['implicit']['time_per_step']:.1f}x")

    W = runs["implicit"]["W"]
    accuracy = float(jnp.mean(jnp.argmax(data["X_test"] @ W, axis=1) == data["y_test"]))
    print(f"held-out accuracy of the model trained on the {CLASSES} prototypes: {accuracy:.4f} "
          f"(chance {1 / CLASSES:.2f}, {data['X_test'].shape[0]} test digits)")
    numbers["accuracy"] = accuracy
    plot_prototypes(runs["implicit"]["prototypes"], out)
    plot_losses(runs, out)
    return numbers


if __name__ == "__main__":
    args = parse_args(__doc__)
    main(args.quick, args.out)
