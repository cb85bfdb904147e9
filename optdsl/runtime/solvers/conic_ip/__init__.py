"""A primal-dual interior point for cone programs, in the style of Clarabel, ECOS and CVXOPT.

- :mod:`~optdsl.runtime.solvers.conic_ip.cone`: what the iteration asks of a cone (the interface);
- :mod:`~optdsl.runtime.solvers.conic_ip.symmetric`: the non-negative, second-order and PSD cones
  with their Nesterov-Todd scaling;
- :mod:`~optdsl.runtime.solvers.conic_ip.nonsymmetric`: the primal-dual scaling, corrector and step
  lengths of the three-row non-symmetric cones;
- :mod:`~optdsl.runtime.solvers.conic_ip.exponential`, :mod:`~optdsl.runtime.solvers.conic_ip.power`:
  the exponential and power cones (their dual barriers and conjugate points);
- :mod:`~optdsl.runtime.solvers.conic_ip.product`: the product of the cone rows of a
  :class:`~optdsl.runtime.solvers.cones.Cones` layout, applied cone by cone;
- :mod:`~optdsl.runtime.solvers.conic_ip.newton`: the Newton system, condensed and scaled;
- :mod:`~optdsl.runtime.solvers.conic_ip.iteration`: Mehrotra's predictor-corrector on the
  homogeneous embedding, and :func:`conic_ip_solve`.
"""

from optdsl.runtime.solvers.conic_ip.iteration import conic_ip_solve

__all__ = ["conic_ip_solve"]
