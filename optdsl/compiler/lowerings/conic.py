"""The conic route: any DCP model, canonicalised to ``min c'x s.t. Ax + s = b, s ∈ K``, by a conic interior point.

:func:`~optdsl.compiler.conic.canonicalize` gives ``(A, b, c)`` as JAX functions
of the parameters; :func:`~optdsl.runtime.solvers.conic_diff.solve_conic_diff`
solves the cone program (by default the primal-dual interior point of
:mod:`~optdsl.runtime.solvers.conic_ip`; ``solver="hsde_admm"`` runs ADMM) and
differentiates the root of the homogeneous self-dual embedding's residual map ``N``
(diffcp's method, inside XLA), so
derivatives flow from the solution back to ``(A, b, c)`` and from there to the
parameters by ordinary autodiff. The solver's point is the conic form's
``(x, y, s)``, auxiliary variables and slacks included: a warm start needs that
whole point (``Solution.state``), not only the model's variable values.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from optdsl.compiler.analyze import Structure
from optdsl.compiler.conic import canonicalize
from optdsl.compiler.lowerings.base import Lowering, Options, Params, signature_default, warm_state
from optdsl.compiler.lowerings.first_order import aligned
from optdsl.runtime.compiled import Solution
from optdsl.runtime.solvers import ConicPoint
from optdsl.runtime.solvers.conic_diff import (DENSE_MAX, SOLVERS, ConicDiffInfo, conic_residual_map,
                                              embedding_from_point, solve_conic_diff)


class Conic(Lowering):
    """The homogeneous self-dual embedding's residual map of the canonical cone program."""

    name = "conic"
    solvers = ("interior_point", "hsde_admm")

    def __init__(self, structure: Structure, options: Options):
        super().__init__(structure, options)
        self.form = canonicalize(structure.problem)

    def jacobian_spd(self) -> bool:
        return False  # the embedding's residual map: neither symmetric nor definite

    @property
    def solver_text(self) -> str:
        return {"interior_point": "primal-dual interior point on the homogeneous embedding (Nesterov-Todd and "
                                  "primal-dual scalings, Mehrotra predictor-corrector, equilibration)",
                "hsde_admm": "ADMM on the homogeneous self-dual embedding (equilibration, Anderson acceleration, "
                             "Newton polish)"}[self.solver]

    def diff_refusal(self, diff: Any) -> str:
        return (f"diff={diff.value!r} does not apply to the conic lowering (it is differentiated implicitly "
                "through the homogeneous self-dual embedding)")

    def optimality(self, point: ConicPoint, params: Params) -> jax.Array:
        A, b, c, _ = self.form.data(params, point.x.dtype)
        return conic_residual_map(embedding_from_point(point), A, b, c, self.form.cones)

    @property
    def maxiter(self) -> int:
        return self.options.maxiter or signature_default(SOLVERS[self.solver], "maxiter")

    def solve(self) -> Callable[[ConicPoint | None, Params], tuple[ConicPoint, ConicDiffInfo]]:
        options = self.solver_options()

        def solve(start: ConicPoint | None, params: Params) -> tuple[ConicPoint, ConicDiffInfo]:
            A, b, c, _ = self.form.data(params)
            return solve_conic_diff(A, b, c, self.form.cones, solver=self.solver,
                                    linear_solve=self.options.linear_solve, init=start, **options)

        return solve

    def singular(self, aux: ConicDiffInfo) -> jax.Array:
        """The embedding's Jacobian is singular at the solution (from its factorisation; least-squares derivatives)."""
        return aux.singular

    def start(self, params: Params, init: Solution | None, dtype: Any) -> ConicPoint | None:
        """The previous solution's conic point (certificates' NaN entries zeroed), or None: the solver's own start."""
        m = self.form.cones.dim
        like = ConicPoint(jnp.zeros((self.form.size,), dtype), jnp.zeros((m,), dtype), jnp.zeros((m,), dtype))
        state = warm_state(init, like)
        if state is None:
            return None
        return ConicPoint(*(jnp.nan_to_num(v.astype(dtype), nan=0.0, posinf=0.0, neginf=0.0) for v in state))

    def read(self, point: ConicPoint, params: Params, dtype: Any) -> tuple[dict[str, jax.Array], dict]:
        return self.form.variables(point.x), self.form.duals(point.y)

    def objective(self, point: ConicPoint, values: dict[str, jax.Array], params: Params, dtype: Any) -> jax.Array:
        """``c'x + offset`` of the cone program (linear in ``x``: finite derivatives at the model's kinks)."""
        _, _, c, offset = self.form.data(params, dtype)
        return self.form.objective_value(point.x, c, offset)

    @property
    def map_text(self) -> str:
        return ("N(u, v, w) = ((Q - I) Π(u, v, w) + (u, v, w)) / |w|  "
                f"(HSDE residual map of min c'x s.t. Ax + s = b, s ∈ K; {self.form.summary()})")

    @property
    def differentiation_text(self) -> str:
        solve = {"auto": "N's Jacobian LU-factorised once per solve (least squares where singular; GMRES beyond "
                         f"{DENSE_MAX} unknowns, this model has {self.form.size + self.form.cones.dim + 1})",
                 "lu": "N's Jacobian LU-factorised once per solve (least squares where singular)"}.get(
            self.options.linear_solve, f"linear solve {self.options.linear_solve!r}")
        return f"implicit: custom_root on N, {solve}, then autodiff of the canonical data (A, b, c) in the parameters"

    def conditions_latex(self) -> str:
        return aligned([
            r"&\mathcal{N}(u, v, w; A, b, c) = \frac{(Q - I)\,\Pi(u, v, w) + (u, v, w)}{|w|} = 0",
            r"&Q = \begin{pmatrix} 0 & A^\top & c \\ -A & 0 & b \\ -c^\top & -b^\top & 0 \end{pmatrix}, "
            r"\quad \Pi = \text{projection onto } \mathbb{R}^n \times K^* \times \mathbb{R}_+",
            r"&\min\ c^\top x \ \text{ s.t. } Ax + s = b,\ s \in K \text{ (the canonicalised model)}",
        ])
