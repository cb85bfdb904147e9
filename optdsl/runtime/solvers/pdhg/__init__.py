"""PDLP: restarted primal-dual hybrid gradient for large sparse LPs and convex QPs, by matrix products only.

:func:`pdlp` is the solver (:mod:`.solver`), :class:`LinearOperator` a matrix given by its products
(:mod:`.operators`); :mod:`.problem` holds the residuals and certificates its statuses are judged by,
:mod:`.derivatives` the implicit derivatives of its solutions.
"""

from optdsl.runtime.solvers.pdhg.operators import LinearOperator
from optdsl.runtime.solvers.pdhg.solver import PDLPAux, PDLPPoint, default_pdlp_tol, pdlp

__all__ = ["LinearOperator", "PDLPAux", "PDLPPoint", "default_pdlp_tol", "pdlp"]
