"""Primal-dual interior points for dense QPs and smooth NLPs, differentiated through their KKT system.

- :mod:`~optdsl.runtime.solvers.interior_point.kkt`: the KKT point, the one KKT
  residual map, its Jacobian, factorisation and factored solve (what implicit
  differentiation uses);
- :mod:`~optdsl.runtime.solvers.interior_point.newton_step`: the Newton-step solves
  and step lengths both solvers take;
- :mod:`~optdsl.runtime.solvers.interior_point.core`: the driver around their
  iterations (start checks and warm-start floors, status, the loop, the factorised result);
- :mod:`~optdsl.runtime.solvers.interior_point.qp`: convex QPs, Mehrotra
  predictor-corrector on the homogeneous self-dual embedding;
- :mod:`~optdsl.runtime.solvers.interior_point.nlp`: smooth NLPs, a line-search
  barrier method.
"""

from optdsl.runtime.solvers.interior_point.kkt import (KKTAux, KKTJacobian, KKTPoint, factor_kkt, kkt_factored_solve,
                                                       kkt_jacobian, kkt_residual)
from optdsl.runtime.solvers.interior_point.nlp import nlp_interior_point, solve_nlp
from optdsl.runtime.solvers.interior_point.qp import QP_FUNCTIONS, QPData, qp_interior_point, solve_qp

__all__ = ["KKTAux", "KKTJacobian", "KKTPoint", "QPData", "QP_FUNCTIONS", "factor_kkt", "kkt_factored_solve",
           "kkt_jacobian", "kkt_residual", "nlp_interior_point", "qp_interior_point", "solve_nlp", "solve_qp"]
