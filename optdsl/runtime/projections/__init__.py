"""Euclidean projections onto convex sets and cones, plus KL projections.

Each ``projection_<set>(x, *set_params)`` returns ``argmin_{y in C} ||y - x||_2``.
Set parameters are positional arguments, so JAX differentiates with respect to
them as well as ``x``. Closed forms are differentiated by autodiff; projections
computed iteratively are differentiated by the implicit function theorem on
their optimality conditions, never through the iterations, in forward and
reverse mode. Everything is pure, ``jit``/``vmap``-safe and keeps the input dtype.

* :mod:`.sets` -- closed forms: box, hypercube, simplex (also with at most k
  nonzeros), l1/l2/l-infinity balls, l1 and l2 spheres, hyperplane, halfspace, affine set;
* :mod:`.cones` -- orthant, zero and free cones, second-order, PSD, exponential
  and power cones (the last two by a scalar root find);
* :mod:`.solver_backed` -- box section (bisection on its dual), polyhedron
  (the project's QP interior point), and the transport and Birkhoff polytopes
  (Newton on the dual);
* :mod:`.kl` -- KL projections onto the simplex and, by Sinkhorn, the transport
  and Birkhoff polytopes.

Shape convention: sets that are naturally sets of vectors (simplex, balls,
sphere, hyperplane, halfspace, affine set, box section, polyhedron, the vector
part of the second-order cone) act on the LAST axis; leading axes are a batch
(so a matrix input is projected row by row). Elementwise sets (orthant, box,
hypercube, linf ball, zero, free) act entrywise; the PSD cone acts on the last
two axes; the exponential and power cones act entrywise on three same-shaped arrays.

Pytrees: the orthant, zero and free cones, box, hypercube, balls, spheres,
simplices, hyperplane and halfspace also take ``x`` as a pytree (tuple, dict,
nested containers of arrays), projected as the one vector of its concatenated
leaves (so the l2 ball bounds the norm of the whole tree); a set parameter is
a scalar or a pytree of the structure of ``x``. The result has the structure,
shapes and dtypes of ``x``. Results keep the floating dtype of ``x`` whatever
the precision of the set parameters.

Empty sets (crossed bounds, a negative radius, inconsistent constraints) raise
:class:`EmptySetError`, a ``ValueError``, when the parameters are concrete;
under a trace the check cannot look at the numbers, and each function returns
the finite point its docstring states.
"""

from optdsl.errors import EmptySetError
from optdsl.runtime.projections.cones import (projection_exp_cone, projection_exp_cone_dual, projection_free,
                                              projection_non_negative, projection_power_cone,
                                              projection_power_cone_dual, projection_psd_cone,
                                              projection_second_order_cone, projection_zero)
from optdsl.runtime.projections.kl import kl_projection_birkhoff, kl_projection_simplex, kl_projection_transport
from optdsl.runtime.projections.sets import (projection_affine_set, projection_box, projection_halfspace,
                                             projection_hypercube, projection_hyperplane, projection_l1_ball,
                                             projection_l1_sphere, projection_l2_ball, projection_l2_sphere,
                                             projection_linf_ball, projection_simplex, projection_sparse_simplex)
# Imported after .cones: optdsl.runtime.solvers, which it loads, imports the cone projections from this package.
from optdsl.runtime.projections.solver_backed import (projection_birkhoff, projection_box_section,
                                                      projection_polyhedron, projection_transport)

__all__ = [
    "EmptySetError",
    "projection_non_negative",
    "projection_box",
    "projection_hypercube",
    "projection_simplex",
    "projection_sparse_simplex",
    "projection_l1_ball",
    "projection_l1_sphere",
    "projection_l2_ball",
    "projection_linf_ball",
    "projection_l2_sphere",
    "projection_hyperplane",
    "projection_halfspace",
    "projection_affine_set",
    "projection_box_section",
    "projection_polyhedron",
    "projection_transport",
    "projection_birkhoff",
    "projection_second_order_cone",
    "projection_psd_cone",
    "projection_exp_cone",
    "projection_exp_cone_dual",
    "projection_power_cone",
    "projection_power_cone_dual",
    "projection_zero",
    "projection_free",
    "kl_projection_simplex",
    "kl_projection_transport",
    "kl_projection_birkhoff",
]
