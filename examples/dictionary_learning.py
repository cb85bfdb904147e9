"""Task-driven dictionary learning on scikit-learn's breast-cancer data (Blondel et al. 2021, §3.2, Table 2).

Each sample ``a`` (30 standardised features) is encoded by an elastic-net sparse
code on a dictionary ``D`` of k unit-norm atoms (rows), declared in optdsl:

    x*(D, a) = argmin_x ½‖Dᵀx − a‖² + λ₁‖x‖₁ + (λ₂/2)‖x‖²

The compiler lowers it to the proximal-gradient fixed point (l1 prox, with the
ridge part in the smooth term); ``jax.vmap`` solves it for every sample at once.
A logistic regression ``σ(wᵀx* + b)`` on the codes is trained jointly with the
dictionary on the training loss (Adam, optax): the gradient with respect to D
goes through the codes by implicit differentiation. The dictionary starts from
scikit-learn's unsupervised ``MiniBatchDictionaryLearning``.

Four methods, compared by test AUC over 10 seeded stratified 75 / 25 splits
(the paper's Table 2 layout): L1- and L2-regularised logistic regression on the
raw features (scikit-learn, C = 1), L2 logistic regression on the codes of the
unsupervised dictionary ("DictL + L2 logreg"), and the task-driven dictionary.
A central finite difference checks the implicit gradient on the first split.

Figure: the training loss of the task-driven runs against outer steps.

    python examples/dictionary_learning.py [--quick] [--out DIR]
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.datasets import load_breast_cancer
from sklearn.decomposition import MiniBatchDictionaryLearning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

import optdsl as od
from example_tools import parse_args, plt, save_figure
from optdsl.runtime.compiled import CompiledProblem

jax.config.update("jax_enable_x64", True)

ATOMS = 10
L1, L2 = 0.5, 0.1  # elastic-net weights of the sparse codes
W_REG = 1e-3  # l2 weight on the classifier in the outer loss
LEARNING_RATE = 0.01
METHODS = ("L1 logreg", "L2 logreg", "DictL + L2 logreg", "Task-driven DictL")

Params = dict[str, jax.Array]


def load_split(seed: int) -> dict[str, np.ndarray]:
    """A stratified 75 / 25 split of the breast-cancer data, standardised on the training part."""
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)
    scaler = StandardScaler().fit(X_train)
    return {"X": scaler.transform(X_train), "y": y_train.astype(float),
            "X_test": scaler.transform(X_test), "y_test": y_test.astype(float)}


def sparse_code_problem(k: int, p: int) -> od.Problem:
    """Elastic-net code of one sample ``a`` on the dictionary ``D`` (k atoms as rows)."""
    x = od.Variable(k, name="x")
    D, a = od.Parameter((k, p), name="D"), od.Parameter(p, name="a")
    return od.Problem(od.Minimize(0.5 * od.sum_squares(D.T @ x - a) + L1 * od.norm1(x) + 0.5 * L2 * od.sum_squares(x)))


def encoder(solve: CompiledProblem):
    """``(raw dictionary, samples) -> codes``: atoms normalised to unit norm, one code per row (vmap)."""
    def encode(V, A):
        D = V / jnp.linalg.norm(V, axis=1, keepdims=True)
        return jax.vmap(lambda a: solve(D=D, a=a)["x"])(A)

    return encode


def training_loss(encode):
    """``(θ = {V, w, b}, X, y) -> mean logistic loss of the codes' scores + (W_REG/2)‖w‖²`` (y in {0, 1})."""
    def loss(theta: Params, X: jax.Array, y: jax.Array) -> jax.Array:
        scores = encode(theta["V"], X) @ theta["w"] + theta["b"]
        return jnp.mean(jax.nn.softplus(scores) - y * scores) + 0.5 * W_REG * jnp.sum(theta["w"] ** 2)

    return loss


def gradient_check(step, theta: Params, X: jax.Array, y: jax.Array, h: float = 1e-5) -> tuple[float, float]:
    """Directional derivative along a random direction of the dictionary: implicit vs central differences."""
    direction = jnp.asarray(np.random.default_rng(1).normal(size=theta["V"].shape))
    implicit = float(jnp.vdot(step(theta, X, y)[1]["V"], direction))
    shifted = lambda s: step({**theta, "V": theta["V"] + s * direction}, X, y)[0]  # noqa: E731
    return implicit, float((shifted(h) - shifted(-h)) / (2 * h))


def task_driven(step, theta: Params, X: jax.Array, y: jax.Array, steps: int,
                desc: str) -> tuple[Params, list[float]]:
    """Adam on the dictionary and the classifier together; returns them and the loss curve."""
    optimizer = optax.adam(LEARNING_RATE)
    state = optimizer.init(theta)
    losses = []
    for _ in tqdm(range(steps), desc=desc, leave=False):
        value, grad = step(theta, X, y)
        losses.append(float(value))
        updates, state = optimizer.update(grad, state)
        theta = optax.apply_updates(theta, updates)
    losses.append(float(step(theta, X, y)[0]))
    return theta, losses


def run_split(seed: int, steps: int, encode, step, check: bool) -> tuple[dict[str, float], list[float], tuple | None]:
    """Test AUC of the four methods on one split (and the gradient check if asked).

    ``encode``: jitted ``(V, A) -> codes``; ``step``: jitted value and gradient of the training loss.
    """
    data = load_split(seed)
    X, y, X_test, y_test = data["X"], data["y"], data["X_test"], data["y_test"]
    auc = {}
    for name, l1_ratio, solver in (("L1 logreg", 1.0, "liblinear"), ("L2 logreg", 0.0, "lbfgs")):
        model = LogisticRegression(C=1.0, l1_ratio=l1_ratio, solver=solver, max_iter=5000).fit(X, y)
        auc[name] = roc_auc_score(y_test, model.decision_function(X_test))

    unsupervised = MiniBatchDictionaryLearning(n_components=ATOMS, alpha=L1, batch_size=64, max_iter=50,
                                               random_state=seed).fit(X)
    V0 = jnp.asarray(unsupervised.components_)
    X, X_test, y = jnp.asarray(X), jnp.asarray(X_test), jnp.asarray(y)
    codes, codes_test = np.asarray(encode(V0, X)), np.asarray(encode(V0, X_test))
    logreg = LogisticRegression(C=1.0 / (W_REG * len(y)), max_iter=5000).fit(codes, y)  # same l2 weight as below
    auc["DictL + L2 logreg"] = roc_auc_score(y_test, logreg.decision_function(codes_test))

    theta = {"V": V0, "w": jnp.asarray(logreg.coef_[0]), "b": jnp.asarray(logreg.intercept_[0])}
    checked = gradient_check(step, theta, X, y) if check else None
    theta, losses = task_driven(step, theta, X, y, steps, f"task-driven, split {seed}")
    scores = np.asarray(encode(theta["V"], X_test) @ theta["w"] + theta["b"])
    auc["Task-driven DictL"] = roc_auc_score(y_test, scores)
    return auc, losses, checked


def print_table(aucs: dict[str, list[float]]) -> None:
    """Mean and standard deviation of the test AUC (in %), one column per method, like Table 2."""
    width = max(len(m) for m in METHODS) + 2
    print("".ljust(14) + "".join(m.rjust(width) for m in METHODS))
    cells = [f"{100 * np.mean(aucs[m]):.2f} ± {100 * np.std(aucs[m]):.2f}" for m in METHODS]
    print("test AUC (%)".ljust(14) + "".join(c.rjust(width) for c in cells))
    for m in METHODS:
        print(f"AUC {m}: mean {np.mean(aucs[m]):.4f}, std {np.std(aucs[m]):.4f}, splits {len(aucs[m])}")


def plot_losses(curves: list[list[float]], out: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for seed, curve in enumerate(curves):
        ax.plot(curve, alpha=0.7, label=f"split {seed}" if len(curves) <= 4 else None)
    ax.set_xlabel("outer step (Adam on dictionary and classifier)")
    ax.set_ylabel("training logistic loss")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    if len(curves) <= 4:
        ax.legend()
    ax.set_title("task-driven dictionary learning, one curve per split")
    save_figure(fig, out, "dictionary_training_loss.png")


def main(quick: bool = False, out: Path = Path("figures")) -> dict[str, float]:
    splits, steps = (2, 60) if quick else (10, 300)
    problem = sparse_code_problem(ATOMS, load_breast_cancer().data.shape[1])
    print(problem, end="\n\n")
    solve = problem.compile()
    print(f"method chosen by the compiler: {solve.method}")
    encode = encoder(solve)
    step = jax.jit(jax.value_and_grad(training_loss(encode)))
    encode = jax.jit(encode)
    aucs: dict[str, list[float]] = {m: [] for m in METHODS}
    curves = []
    numbers: dict[str, float] = {}
    for seed in tqdm(range(splits), desc="splits"):
        auc, losses, checked = run_split(seed, steps, encode, step, check=seed == 0)
        for m in METHODS:
            aucs[m].append(auc[m])
        curves.append(losses)
        print(f"split {seed}: " + ", ".join(f"{m} {auc[m]:.4f}" for m in METHODS)
              + f"; task-driven training loss {losses[0]:.6f} -> {losses[-1]:.6f}")
        if checked is not None:
            implicit, fd = checked
            print(f"gradient check (dictionary, random direction): implicit {implicit:.10f}, "
                  f"finite difference {fd:.10f}, relative difference {abs(implicit - fd) / abs(fd):.1e}")
            numbers["grad_implicit"], numbers["grad_fd"] = implicit, fd
        numbers[f"loss_first_{seed}"], numbers[f"loss_final_{seed}"] = losses[0], losses[-1]
    print_table(aucs)
    numbers.update({f"auc_{m}": float(np.mean(aucs[m])) for m in METHODS})
    plot_losses(curves, out)
    return numbers


if __name__ == "__main__":
    args = parse_args(__doc__)
    main(args.quick, args.out)
