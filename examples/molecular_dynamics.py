"""Sensitivity of a jammed soft-sphere packing to a particle diameter (Blondel et al. 2021, §3.4, Fig. 4 and 17).

k = 128 soft disks in a two-dimensional periodic box: half have diameter 1,
half diameter θ = 0.6. The energy is the harmonic soft-sphere pair energy

    E(x, θ) = Σ_{i<j} ½ (1 − r_ij / σ_ij)²  for r_ij < σ_ij,    σ_ij = (d_i + d_j) / 2,

with ``r_ij`` the minimum-image distance. FIRE (Bitzek et al. 2006) minimises it
from random positions; the sensitivity of the minimum to the small diameter,
``∂x*/∂θ``, is a forward-mode product (``jax.jvp``) through the optimality
condition ``∇ₓE(x*, θ) = 0``, with BiCGSTAB for the linear solve (the Hessian
is singular: global translations, and rattlers without contacts, cost no
energy; Krylov iterates from zero stay orthogonal to those modes, like the
right-hand side). A central finite difference of positions re-solved at θ ± h
(warm-started at x*) checks it.

Not declared in the DSL, on purpose: the minimum-image displacement needs
rounding, which has no atom in optdsl, and the energy is not convex. The example
uses the runtime directly — ``optdsl.runtime.custom_root`` around the FIRE
solver written here — which is what the compiler does for a declared model.

Figures: the packing with sensitivity arrows (the paper's Fig. 4), and, over 40
random initial conditions, the error of the sensitivity obtained by unrolling
FIRE's iterations (forward mode) against the implicit one, per iteration (Fig. 17).

    python examples/molecular_dynamics.py [--quick] [--out DIR]
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from matplotlib.patches import Circle
from tqdm import tqdm

from example_tools import parse_args, plt, save_figure, timed
from optdsl.runtime import custom_root

jax.config.update("jax_enable_x64", True)

PARTICLES = 128
THETA = 0.6  # diameter of the small particles (the large ones have diameter 1)
PACKING_FRACTION = 0.9  # above jamming (≈ 0.84 in 2-D), so the minimum is a rigid packing
FORCE_TOL = 1e-11  # FIRE stops when the force norm ‖∇ₓE‖ is below this
MAXITER = 200_000


def box_size(n: int, theta: float, fraction: float = PACKING_FRACTION) -> float:
    """Side of the square box in which n/2 disks of diameter 1 and n/2 of diameter θ cover ``fraction``."""
    area = (n // 2) * np.pi / 4 * (1 + theta ** 2)
    return float(np.sqrt(area / fraction))


def diameters(n: int, theta: jax.Array) -> jax.Array:
    """Diameter 1 for the first half of the particles, θ for the second half."""
    return jnp.concatenate([jnp.ones(n // 2, jnp.result_type(theta)), jnp.full(n - n // 2, theta)])


def energy_fn(side: float) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """``E(x, θ)`` for positions ``x`` (n × 2) in a periodic box of the given side."""
    def energy(x, theta):
        n = x.shape[0]
        d = diameters(n, theta)
        delta = x[:, None, :] - x[None, :, :]
        delta = delta - side * jnp.round(delta / side)  # minimum image
        sigma = 0.5 * (d[:, None] + d[None, :])
        off_diagonal = ~jnp.eye(n, dtype=bool)
        # sqrt of a positive number only: the diagonal (r = 0) gets a dummy 1 and is masked out
        r = jnp.sqrt(jnp.where(off_diagonal, jnp.sum(delta ** 2, axis=-1), 1.0))
        overlap = jnp.where(off_diagonal, jnp.maximum(1 - r / sigma, 0), 0)
        return 0.25 * jnp.sum(overlap ** 2)  # each pair counted twice: ½ · ½

    return energy


class FireState(NamedTuple):
    x: jax.Array
    v: jax.Array
    force: jax.Array
    dt: jax.Array
    alpha: jax.Array
    positive: jax.Array  # steps since the power F·v was last negative
    count: jax.Array


def fire_step(grad: Callable, theta: jax.Array, state: FireState, dt_max: float = 0.4, n_min: int = 5,
              f_inc: float = 1.1, f_dec: float = 0.5, alpha_start: float = 0.1, f_alpha: float = 0.99) -> FireState:
    """One FIRE step: semi-implicit Euler move, velocity mixing toward the force, step-size adaptation."""
    v = state.v + state.dt * state.force
    x = state.x + state.dt * v
    force = -grad(x, theta)
    power = jnp.vdot(force, v)
    f_norm = jnp.linalg.norm(force)
    mixed = (1 - state.alpha) * v + state.alpha * jnp.linalg.norm(v) * force / jnp.where(f_norm > 0, f_norm, 1)
    downhill = power > 0
    grow = downhill & (state.positive > n_min)
    return FireState(
        x=x,
        v=jnp.where(downhill, mixed, jnp.zeros_like(v)),
        force=force,
        dt=jnp.where(downhill, jnp.where(grow, jnp.minimum(state.dt * f_inc, dt_max), state.dt), state.dt * f_dec),
        alpha=jnp.where(downhill, jnp.where(grow, state.alpha * f_alpha, state.alpha), alpha_start),
        positive=jnp.where(downhill, state.positive + 1, 0),
        count=state.count + 1,
    )


def fire_init(grad: Callable, x0: jax.Array, theta: jax.Array, dt: float = 0.1, alpha: float = 0.1) -> FireState:
    zero = jnp.zeros((), jnp.int32)
    return FireState(x0, jnp.zeros_like(x0), -grad(x0, theta), jnp.asarray(dt, x0.dtype),
                     jnp.asarray(alpha, x0.dtype), zero, zero)


def make_relax(side: float, tol: float = FORCE_TOL) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """``relax(x0, θ) -> x*(θ)``: FIRE to ``‖∇ₓE‖ <= tol``, differentiable by the implicit function theorem."""
    grad = jax.grad(energy_fn(side))

    @custom_root(grad, solve="bicgstab", symmetric=True)
    def relax(x0, theta):
        state = lax.while_loop(lambda s: (jnp.linalg.norm(s.force) > tol) & (s.count < MAXITER),
                               lambda s: fire_step(grad, theta, s), fire_init(grad, x0, theta))
        return state.x

    return relax


def unrolled_sensitivity(side: float, x0: jax.Array, theta: jax.Array, steps: int) -> tuple[jax.Array, jax.Array]:
    """Positions and ``∂x_t/∂θ`` along FIRE's first ``steps`` iterations, by forward-mode unrolling."""
    grad = jax.grad(energy_fn(side))

    def trajectory(theta):
        def body(state, _):
            state = fire_step(grad, theta, state)
            return state, state.x

        return lax.scan(body, fire_init(grad, x0, theta), length=steps)[1]

    return jax.jvp(trajectory, (theta,), (jnp.ones_like(theta),))


def sensitivity_residual(side: float, x: jax.Array, theta: jax.Array, tangents: jax.Array) -> jax.Array:
    """``‖∇²ₓE · dx + ∂θ∇ₓE‖ / ‖∂θ∇ₓE‖`` at a minimum ``x``, for each ``dx`` in ``tangents`` (t × n × 2).

    Zero exactly for solutions of the sensitivity equation; blind to zero-energy
    modes (translations, rattlers), where the minimiser itself is not unique.
    """
    grad = jax.grad(energy_fn(side))
    rhs = jax.jvp(lambda t: grad(x, t), (theta,), (jnp.ones_like(theta),))[1]
    hvp = lambda v: jax.jvp(lambda y: grad(y, theta), (x,), (v,))[1]  # noqa: E731
    residuals = lax.map(lambda v: jnp.linalg.norm(hvp(v) + rhs), tangents, batch_size=100)
    return residuals / jnp.linalg.norm(rhs)


def random_positions(key: jax.Array, n: int, side: float) -> jax.Array:
    return jax.random.uniform(key, (n, 2), jnp.float64, 0.0, side)


def plot_packing(x: jax.Array, dx: jax.Array, side: float, theta: float, out: Path) -> None:
    """Disks at their minimum-energy positions, with arrows along ∂x*/∂θ (Fig. 4)."""
    x = np.mod(np.asarray(x), side)
    dx = np.asarray(dx)
    d = np.asarray(diameters(x.shape[0], jnp.asarray(theta)))
    fig, ax = plt.subplots(figsize=(6, 6))
    for (cx, cy), di in zip(x, d):
        colour = "tab:blue" if di == 1 else "tab:orange"
        for sx in (-side, 0, side):  # periodic images, so disks on an edge are drawn whole
            for sy in (-side, 0, side):
                ax.add_patch(Circle((cx + sx, cy + sy), di / 2, facecolor=colour, edgecolor="k", lw=0.4, alpha=0.5))
    ax.quiver(x[:, 0], x[:, 1], dx[:, 0], dx[:, 1], angles="xy", scale_units="xy",
              scale=np.max(np.linalg.norm(dx, axis=1)) / 0.8, width=0.004, color="k")
    ax.set_xlim(0, side)
    ax.set_ylim(0, side)
    ax.set_aspect("equal")
    ax.set_title(f"{x.shape[0]} soft disks (diameters 1 and θ = {theta}); arrows: ∂x*/∂θ (longest drawn 0.8)")
    save_figure(fig, out, "md_sensitivity.png")


def plot_divergence(errors: np.ndarray, residuals: np.ndarray, out: Path) -> None:
    """Unrolled sensitivity per FIRE iteration, one line per start: error against the implicit one, and
    residual of the sensitivity equation at the minimum."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    steps = np.arange(1, errors.shape[1] + 1)
    labels = (r"$\|\partial_\theta x_t - \partial_\theta x^\star\| / \|\partial_\theta x^\star\|$",
              r"$\|\nabla^2_x E\,\partial_\theta x_t + \partial_\theta\nabla_x E\| / \|\partial_\theta\nabla_x E\|$")
    for ax, values, label in zip(axes, (errors, residuals), labels):
        for row in values:
            ax.semilogy(steps, row, color="tab:red", alpha=0.35, lw=0.8)
        ax.semilogy(steps, np.median(values, axis=0), color="k", lw=2, label="median")
        ax.set_xlabel("FIRE iteration t")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    axes[0].set_title("error against the implicit sensitivity")
    axes[1].set_title("residual of the sensitivity equation")
    fig.suptitle(f"sensitivity by unrolling FIRE, {errors.shape[0]} random initial conditions")
    fig.tight_layout()
    save_figure(fig, out, "md_unrolled_divergence.png")


def main(quick: bool = False, out: Path = Path("figures")) -> dict[str, float]:
    n, starts, steps = (PARTICLES, 4, 600) if quick else (PARTICLES, 40, 3000)
    side = box_size(n, THETA)
    theta = jnp.asarray(THETA)
    relax = make_relax(side)
    energy = jax.jit(energy_fn(side))
    print(f"{n} particles, box side {side:.4f} (packing fraction {PACKING_FRACTION}), theta = {THETA}")

    x0 = random_positions(jax.random.PRNGKey(0), n, side)
    sensitivity = jax.jit(lambda x0, t: jax.jvp(lambda s: relax(x0, s), (t,), (jnp.ones_like(t),)))
    (x_star, dx), seconds = timed(sensitivity, x0, theta)
    force = float(jnp.linalg.norm(jax.grad(energy_fn(side))(x_star, theta)))
    print(f"FIRE + implicit JVP: energy {float(energy(x_star, theta)):.6e}, force norm {force:.1e}, "
          f"|dx*/dtheta| {float(jnp.linalg.norm(dx)):.4f} ({seconds:.1f} s with compilation)")

    h = 1e-5
    resolve = jax.jit(relax)
    fd = (resolve(x_star, theta + h) - resolve(x_star, theta - h)) / (2 * h)
    relative = float(jnp.linalg.norm(dx - fd) / jnp.linalg.norm(fd))
    print(f"sensitivity check: |JVP - finite difference| / |finite difference| = {relative:.2e} (h = {h})")
    implicit_residual = float(sensitivity_residual(side, x_star, theta, dx[None])[0])
    print(f"sensitivity equation residual of the implicit JVP: {implicit_residual:.2e}")
    plot_packing(x_star, dx, side, THETA, out)

    keys = jax.random.split(jax.random.PRNGKey(1), starts)
    unrolled = jax.jit(unrolled_sensitivity, static_argnums=(0, 3))
    residual = jax.jit(sensitivity_residual, static_argnums=0)
    errors, residuals = [], []
    for key in tqdm(keys, desc="initial conditions"):
        start = random_positions(key, n, side)
        x_min, dx_implicit = sensitivity(start, theta)
        _, dx_unrolled = unrolled(side, start, theta, steps)
        errors.append(np.asarray(jnp.linalg.norm(dx_unrolled - dx_implicit, axis=(1, 2))
                                 / jnp.linalg.norm(dx_implicit)))
        residuals.append(np.asarray(residual(side, x_min, theta, dx_unrolled)))
    errors, residuals = np.asarray(errors), np.asarray(residuals)
    print(f"unrolled sensitivity after {steps} FIRE iterations over {starts} starts: relative error against "
          f"implicit median {np.median(errors[:, -1]):.2e} (max {np.max(errors[:, -1]):.2e}, peak of the median "
          f"{np.max(np.median(errors, axis=0)):.2e}); sensitivity equation residual median "
          f"{np.median(residuals[:, -1]):.2e} (max {np.max(residuals[:, -1]):.2e})")
    plot_divergence(errors, residuals, out)
    return {"jvp_fd_relative": relative, "force_norm": force, "implicit_residual": implicit_residual,
            "unrolled_median_error": float(np.median(errors[:, -1])),
            "unrolled_median_residual": float(np.median(residuals[:, -1]))}


if __name__ == "__main__":
    args = parse_args(__doc__)
    main(args.quick, args.out)
