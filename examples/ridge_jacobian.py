"""Figure 1 of Blondel et al. (2021): the Jacobian of ridge regression by implicit differentiation.

The solver is conjugate gradient in a ``lax.while_loop``, which JAX cannot
differentiate in reverse mode; ``custom_root`` makes it differentiable from the
optimality condition ``∇ₓf(x*, θ) = 0`` alone. The result is printed next to the
closed form ``∂x*/∂θ = -(XᵀX + θI)⁻¹ x*``.

    python examples/ridge_jacobian.py [--theta 10]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from optdsl.runtime.implicit_diff import custom_root
from optdsl.runtime.linear_solve import solve_cg

jax.config.update("jax_enable_x64", True)


def load_data() -> tuple[jax.Array, jax.Array]:
    """The diabetes regression set shipped with scikit-learn (no download)."""
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    return jnp.asarray(X), jnp.asarray(y)


def main(theta: float) -> float:
    X, y = load_data()

    def f(x, theta):
        residual = X @ x - y
        return 0.5 * jnp.sum(residual ** 2) + 0.5 * theta * jnp.sum(x ** 2)

    @custom_root(jax.grad(f), symmetric=True, positive_definite=True)
    def ridge_solver(init_x, theta):
        return solve_cg(lambda v: X.T @ (X @ v) + theta * v, X.T @ y, init=init_x, tol=1e-14)

    init_x = jnp.zeros(X.shape[1])
    jacobian = jax.jit(jax.jacobian(ridge_solver, argnums=1))(init_x, theta)

    hessian = X.T @ X + theta * jnp.eye(X.shape[1])
    x_star = jnp.linalg.solve(hessian, X.T @ y)
    closed_form = -jnp.linalg.solve(hessian, x_star)

    np.set_printoptions(precision=6, suppress=False, linewidth=100)
    print(f"ridge regression on the diabetes data ({X.shape[0]} x {X.shape[1]}), theta = {theta}")
    print("implicit Jacobian  dx*/dtheta:", np.asarray(jacobian))
    print("closed form -(X'X + theta I)^-1 x*:", np.asarray(closed_form))
    max_diff = float(jnp.max(jnp.abs(jacobian - closed_form)))
    print(f"max |difference| = {max_diff:.3e}")
    return max_diff


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--theta", type=float, default=10.0)
    main(parser.parse_args().theta)
