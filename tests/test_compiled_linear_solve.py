"""A compiled model takes every linear solve of the ``linear_solve=`` table by name, and its derivatives are right.

The model is ``min 0.5 ||x - c||^2 + 0.5 ||A x||^2`` (the stationary route), whose solution
``x = (I + A'A)^{-1} c`` has the Jacobian ``(I + A'A)^{-1}`` in ``c``: each solve's Jacobian, computed by
implicit differentiation through that solve, is checked against it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optdsl as od
from optdsl.runtime.linear_solve import SOLVERS


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(7, 5))
    x, c = od.Variable(5, name="x"), od.Parameter(5, name="c")
    prob = od.Problem(od.Minimize(0.5 * od.sum_squares(x - c) + 0.5 * od.sum_squares(A @ x)))
    return prob, A, jnp.asarray(rng.normal(size=5))


@pytest.mark.parametrize("name", ["qr", "inv", "iterative_refinement"])
def test_compiled_model_accepts_the_dense_solves_by_name(problem, name):
    prob, A, c = problem
    assert name in SOLVERS
    solve = prob.compile(linear_solve=name)
    assert f"linear solve {name!r}" in solve.explain()
    inverse = np.linalg.inv(np.eye(5) + A.T @ A)
    np.testing.assert_allclose(solve(c=c).x, inverse @ np.asarray(c), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(jax.jit(jax.jacrev(lambda c: solve(c=c).x))(c), inverse, rtol=1e-8, atol=1e-10)


def test_a_symmetric_positive_definite_solve_is_refused_where_the_map_is_not_one():
    # The fixed-point maps of the projected- and proximal-gradient routes, and the conic residual map, have
    # Jacobians that are not symmetric: Cholesky or CG there gave NaN or wrong derivatives.
    x, c = od.Variable(4, name="x"), od.Parameter(4, name="c")
    models = {"projected_gradient": od.Problem(od.Minimize(od.sum_squares(x - c)), [x >= 0]),
              "proximal_gradient": od.Problem(od.Minimize(od.sum_squares(x - c) + od.norm1(x))),
              "conic": od.Problem(od.Minimize(od.norm2(x - c)), [od.sum(x) == 1])}
    for method, prob in models.items():
        for name in ("cholesky", "cg"):
            with pytest.raises(od.CompileError, match=f"linear_solve={name!r} needs a symmetric positive definite"):
                prob.compile(method=method, linear_solve=name)
        prob.compile(method=method, linear_solve="gmres")
