"""An optimisation layer (OptNet-style): a network whose last layer is a compiled QP, trained with optax.

The data are points ``v`` pushed onto an unknown polytope ``{x : G x <= h_true}``
(the targets are their Euclidean projections). The model maps an input ``u``
through a linear layer to ``v = W u + c`` and then through the QP layer

    x*(v, h) = argmin_x 0.5 * ||x - v||^2   s.t.   G x <= h,

declared in optdsl and compiled to the KKT map with the interior point. ``W``,
``c`` and the polytope offsets ``h`` are learned together by Adam on the mean
squared error (cosine-decayed step), with ``jax.jit(jax.value_and_grad(loss))`` through the layer
(implicit differentiation, reusing the interior point's KKT factorisation).

    python examples/optimization_layer.py [--quick] [--out DIR]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
from tqdm import trange

import optdsl as od
from example_tools import parse_args, save_figure

jax.config.update("jax_enable_x64", True)


def qp_layer(n: int, m: int, G: np.ndarray):
    """The projection onto ``{x : G x <= h}`` as a compiled, differentiable QP: ``(v, h) -> x*``."""
    x = od.Variable(n, name="x")
    v, h = od.Parameter(n, name="v"), od.Parameter(m, name="h")
    solve = od.Problem(od.Minimize(0.5 * od.sum_squares(x - v)), [G @ x <= h]).compile()
    print(f"layer: {solve.method} map, {m} constraints on {n} unknowns")
    return lambda v_value, h_value: solve(v=v_value, h=h_value).x


def main(quick: bool, out) -> dict[str, float]:
    rng = np.random.default_rng(0)
    n, m, d = 4, 6, 3
    samples, steps = (64, 60) if quick else (512, 400)
    G = rng.normal(size=(m, n))
    h_true = jnp.asarray(rng.random(m) + 0.2)
    layer = qp_layer(n, m, G)
    batched = jax.vmap(layer, in_axes=(0, None))

    W_true, c_true = rng.normal(size=(n, d)), rng.normal(size=n)
    U = jnp.asarray(rng.normal(size=(samples, d)))
    targets = batched(U @ W_true.T + c_true, h_true)

    params = {"W": jnp.asarray(0.1 * rng.normal(size=(n, d))), "c": jnp.zeros(n), "h": jnp.ones(m)}

    def loss(p):
        return jnp.mean(jnp.sum((batched(U @ p["W"].T + p["c"], p["h"]) - targets) ** 2, axis=1))

    value_and_grad = jax.jit(jax.value_and_grad(loss))
    l0, g0 = value_and_grad(params)
    direction = jax.tree_util.tree_map(lambda a: jnp.asarray(rng.normal(size=a.shape)), params)
    eps = 1e-6
    shifted = lambda s: jax.tree_util.tree_map(lambda a, b: a + s * eps * b, params, direction)  # noqa: E731
    fd = float((loss(shifted(1.0)) - loss(shifted(-1.0))) / (2 * eps))
    implicit = float(sum(jnp.vdot(g0[k], direction[k]) for k in params))
    print(f"gradient check: implicit {implicit:.10f}, finite difference {fd:.10f}, "
          f"relative difference {abs(implicit - fd) / abs(fd):.1e}")

    optimizer = optax.adam(optax.cosine_decay_schedule(0.05, steps))  # decays so Adam settles at the end
    state = optimizer.init(params)

    @jax.jit
    def step(p, s):
        value, grads = value_and_grad(p)
        updates, s = optimizer.update(grads, s, p)
        return optax.apply_updates(p, updates), s, value

    history = []
    for _ in trange(steps, desc="training through the QP layer"):
        params, state, value = step(params, state)
        history.append(float(value))
    final = float(loss(params))
    print(f"training loss {history[0]:.6f} -> {final:.6f} after {steps} Adam steps")

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.semilogy(history)
    ax.set_xlabel("Adam step")
    ax.set_ylabel("mean squared error")
    ax.set_title("Training a network through a QP layer")
    save_figure(fig, out, "optimization_layer_loss.png")
    return {"initial": history[0], "final": final, "implicit": implicit, "fd": fd}


if __name__ == "__main__":
    args = parse_args(__doc__)
    main(args.quick, args.out)
