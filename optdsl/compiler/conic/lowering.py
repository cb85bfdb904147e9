"""The conic lowering's run: canonical data, the HSDE conic solver, and implicit derivatives.

``ConicForm.data(params)`` gives ``(A, b, c)`` as JAX functions of the
parameters; ``solve_conic_diff`` solves ``min c'x s.t. Ax + s = b, s ∈ K`` and
differentiates the root of the homogeneous self-dual embedding's residual map
(diffcp's method, inside XLA), so derivatives flow from the solution back to
``(A, b, c)`` and from there to the parameters by ordinary autodiff.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from optdsl.compiler.conic.form import ConicForm
from optdsl.runtime.compiled import Solution
from optdsl.runtime.solvers.conic_diff import solve_conic_diff

Params = dict[str, jax.Array]


def make_run(form: ConicForm, *, linear_solve: str, tol: float | None,
             maxiter: int | None) -> Callable[[Params, Any, Any], Solution]:
    """``run(params, init, dtype) -> Solution`` for the conic lowering."""
    options: dict[str, Any] = {"tol": tol} | ({} if maxiter is None else {"maxiter": maxiter})
    dual_keys = tuple((id(c), name) for name, c in form.problem.named_constraints().items())

    def run(params: Params, init: Any, dtype: Any) -> Solution:
        A, b, c, offset = form.data(params, dtype)
        point, info = solve_conic_diff(A, b, c, form.cones, linear_solve=linear_solve, **options)
        return Solution(form.variables(point.x), form.objective_value(point.x, c, offset), info.status,
                        info.residual, info.iterations, form.duals(point.y), dual_keys, jnp.asarray(False))

    return run
