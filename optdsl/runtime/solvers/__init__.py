"""Forward solvers for flat ``x`` of shape ``(n,)``; each returns ``(x, SolverInfo)``.

Plain JAX (``lax`` loops, jit/vmap-safe, dtype-preserving). Derivatives of a
solution come from implicit differentiation attached by the caller
(``optdsl.runtime.implicit_diff``); ``unroll=True`` instead makes every loop a
fixed-length scan that ``jax.grad`` can run through, for comparisons.
"""

from optdsl.runtime.solvers.base import SolverInfo, default_tol
from optdsl.runtime.solvers.cone_program import ConicPoint
from optdsl.runtime.solvers.cones import Cones
from optdsl.runtime.solvers.conic import conic_solve
from optdsl.runtime.solvers.conic_diff import solve_conic_diff
from optdsl.runtime.solvers.conic_ip import conic_ip_solve
from optdsl.runtime.solvers.interior_point import (KKTAux, KKTPoint, kkt_factored_solve, kkt_residual,
                                                   nlp_interior_point, qp_interior_point, solve_nlp, solve_qp)
from optdsl.runtime.solvers.lbfgs import lbfgs
from optdsl.runtime.solvers.mirror_descent import mirror_descent, simplex_kl_step
from optdsl.runtime.solvers.newton import newton, newton_cg
from optdsl.runtime.solvers.pdhg import LinearOperator, PDLPAux, PDLPPoint, pdlp
from optdsl.runtime.solvers.proximal_gradient import proximal_gradient

__all__ = [
    "Cones",
    "ConicPoint",
    "KKTAux",
    "KKTPoint",
    "LinearOperator",
    "PDLPAux",
    "PDLPPoint",
    "conic_ip_solve",
    "conic_solve",
    "kkt_factored_solve",
    "kkt_residual",
    "nlp_interior_point",
    "qp_interior_point",
    "solve_conic_diff",
    "solve_nlp",
    "solve_qp",
    "SolverInfo",
    "default_tol",
    "lbfgs",
    "mirror_descent",
    "newton",
    "newton_cg",
    "pdlp",
    "proximal_gradient",
    "simplex_kl_step",
]
