"""Euclidean projections onto convex sets and cones, plus KL projections.

Each ``projection_<set>(x, *set_params)`` returns ``argmin_{y in C} ||y - x||_2``.
Set parameters are positional arguments, so JAX differentiates with respect to
them as well as ``x``. Closed forms are differentiated by autodiff; projections
computed iteratively are differentiated by the implicit function theorem on
their optimality conditions, never through the iterations, in forward and
reverse mode. Everything is pure, ``jit``/``vmap``-safe and keeps the input dtype.

* :mod:`.sets` -- closed forms: box, hypercube, simplex, l1/l2/l-infinity balls,
  sphere, hyperplane, halfspace, affine set;
* :mod:`.cones` -- orthant, zero and free cones, second-order, PSD, exponential
  and power cones (the last two by a scalar root find);
* :mod:`.solver_backed` -- box section (bisection on its dual) and polyhedron
  (the project's QP interior point);
* :mod:`.kl` -- KL projections onto the simplex and, by Sinkhorn, the transport
  and Birkhoff polytopes.

Shape convention: sets that are naturally sets of vectors (simplex, balls,
sphere, hyperplane, halfspace, affine set, box section, polyhedron, the vector
part of the second-order cone) act on the LAST axis; leading axes are a batch
(so a matrix input is projected row by row). Elementwise sets (orthant, box,
hypercube, linf ball, zero, free) act entrywise; the PSD cone acts on the last
two axes; the exponential and power cones act entrywise on three same-shaped arrays.
"""

from optdsl.runtime.projections.cones import (projection_exp_cone, projection_exp_cone_dual, projection_free,
                                              projection_non_negative, projection_power_cone,
                                              projection_power_cone_dual, projection_psd_cone,
                                              projection_second_order_cone, projection_zero)
from optdsl.runtime.projections.kl import kl_projection_birkhoff, kl_projection_simplex, kl_projection_transport
from optdsl.runtime.projections.sets import (projection_affine_set, projection_box, projection_halfspace,
                                             projection_hypercube, projection_hyperplane, projection_l1_ball,
                                             projection_l2_ball, projection_l2_sphere, projection_linf_ball,
                                             projection_simplex)
# Imported after .cones: optdsl.runtime.solvers, which it loads, imports the cone projections from this package.
from optdsl.runtime.projections.solver_backed import projection_box_section, projection_polyhedron

__all__ = [
    "projection_non_negative",
    "projection_box",
    "projection_hypercube",
    "projection_simplex",
    "projection_l1_ball",
    "projection_l2_ball",
    "projection_linf_ball",
    "projection_l2_sphere",
    "projection_hyperplane",
    "projection_halfspace",
    "projection_affine_set",
    "projection_box_section",
    "projection_polyhedron",
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
