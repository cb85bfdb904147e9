"""Declare a lasso, compile it, solve it, and differentiate the solution (the README's main example).

The hyper-gradient of a validation loss with respect to the l1 penalty comes
from implicit differentiation of the proximal-gradient fixed point the compiler
wrote; it is checked against a central finite difference, then a batch of
penalties is solved at once with ``vmap``.

    python examples/quickstart.py
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import optdsl as od

jax.config.update("jax_enable_x64", True)


def make_data(seed: int = 0, m: int = 100, n: int = 50):
    """A sparse regression problem split into training and validation halves."""
    rng = np.random.default_rng(seed)
    w_true = np.where(rng.random(n) < 0.2, rng.normal(size=n), 0.0)
    A = rng.normal(size=(2 * m, n))
    b = A @ w_true + 0.5 * rng.normal(size=2 * m)
    return jnp.asarray(A[:m]), jnp.asarray(b[:m]), jnp.asarray(A[m:]), jnp.asarray(b[m:])


def main() -> dict[str, float]:
    A_train, b_train, A_val, b_val = make_data()
    m, n = A_train.shape

    x = od.Variable(n, name="x")
    A = od.Parameter((m, n), name="A")
    b = od.Parameter(m, name="b")
    lam = od.Parameter(nonneg=True, name="lam")
    problem = od.Problem(od.Minimize(0.5 * od.sum_squares(A @ x - b) + lam * od.norm1(x)))
    print(problem, end="\n\n")

    solve = problem.compile()
    print(f"method chosen by the compiler: {solve.method}")

    sol = solve(A=A_train, b=b_train, lam=5.0)
    print(f"status {sol.status_name()}, {int(sol.iterations)} iterations, residual {float(sol.residual):.1e}, "
          f"{int(jnp.sum(jnp.abs(sol.x) > 1e-8))} of {n} coefficients non-zero")

    def validation_loss(lam_value):
        x_star = solve(A=A_train, b=b_train, lam=lam_value).x
        return 0.5 * jnp.mean((A_val @ x_star - b_val) ** 2)

    grad = float(jax.jit(jax.grad(validation_loss))(5.0))
    h = 1e-5
    fd = float((validation_loss(5.0 + h) - validation_loss(5.0 - h)) / (2 * h))
    print(f"d validation loss / d lam: implicit {grad:.10f}, finite difference {fd:.10f}, "
          f"relative difference {abs(grad - fd) / abs(fd):.1e}")

    lams = jnp.linspace(1.0, 20.0, 8)
    losses = jax.jit(jax.vmap(validation_loss))(lams)
    best = float(lams[jnp.argmin(losses)])
    print("validation loss over a batch of penalties (vmap):",
          " ".join(f"{float(v):.4f}" for v in losses), f"-> best lam {best:.2f}")
    return {"grad": grad, "fd": fd}


if __name__ == "__main__":
    main()
