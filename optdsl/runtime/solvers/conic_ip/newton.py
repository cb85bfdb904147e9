"""The Newton system of the conic interior point, solved in the scaled space.

Each step solves, for right-hand sides ``(r_x, r_z)``::

    A' dz            = r_x
    A dx - H dz      = r_z,      H = blockdiag(0 on the zero cone's rows, W'W on the cone rows)

Substituting ``dl = W dz`` on the cone rows turns it into the step system of the QP
interior point with ``G = W^-T A_c`` and unit weights::

    A_0' dz_0 + G' dl = r_x,     A_0 dx = r_z0,     G dx - dl = W^-T r_zc

which :func:`~optdsl.runtime.solvers.interior_point.newton_step.condensed_kkt_solve`
solves: a Cholesky factorisation of the condensed ``G'G + reg I = A_c' H^-1 A_c + reg I``
(``n x n``) and of the Schur complement of the equality rows, and the LU of the scaled
quasi-definite system of order ``n + m`` in place of the Cholesky factors whenever
their pivots show the condensed matrix too ill-conditioned; :data:`REFINE` steps of
iterative refinement on the Newton system itself follow each solve.

Why condensed rather than the LU (or LDL') of the whole quasi-definite system of order
``n + m`` with static regularisation: conic programs from a modelling layer have more
rows than variables (``m`` around ``2 n`` and more), and the condensed factorisation
costs about ``n^3 / 3 + m n^2`` flops against ``2 (n + m)^3 / 3``. Measured on a
Markowitz SOCP with ``n = 200, m = 402`` on a CPU: 8 ms against 98 ms per iteration,
132 ms against 1.7 s per solve, in 16 and 17 iterations; the regularised LU also
stalled on a 10 x 10 SDP that this solves. Scaling by ``W^-T`` first keeps
``A' W^-1 W^-T A`` from forming ``H^-1``, and the ill-conditioning that squaring
brings near the solution (``H`` spans many orders of magnitude there) is caught by
the pivot test and handed to the LU, which only then is factorised.

The condensed matrix is the sum of the cones' parts ``A_k' W_k^-1 W_k^-T A_k``: the Gram
matrix of their rows of ``G`` (``2 dim n^2`` flops), except for second-order cones of many
rows, whose part is a rank-one update of a constant formed once per solve
(:meth:`~optdsl.runtime.solvers.conic_ip.product.ProductCone.condensed`). On the Markowitz
SOCP above its cone of 201 rows then costs ``O(n^2)`` per iteration instead of ``2 dim n^2``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax

from optdsl.runtime.solvers.conic_ip.product import ProductCone
from optdsl.runtime.solvers.interior_point.newton_step import condensed_kkt_solve, regularisation

Array = jax.Array
#: The Newton system of one problem: ``(w, active) -> (r_x, r_z) -> (dx, dz)`` (:func:`newton_system`).
NewtonSystem = Callable[[tuple, Array], Callable[[Array, Array], tuple]]

#: Steps of iterative refinement on the Newton system itself (``H = W'W`` applied, nothing inverted) after each
#: solve, the only refinement: the QP solver's own, in the scaled space, is left out. This one corrects the
#: regularisation as that one does, and also what rounding in ``W`` costs near the boundary of a cone (there the
#: ``tau`` column of an exponential cone's system lost six digits); with both, each step solved with the factors
#: four times per right-hand side instead of two, a fifth of the Markowitz SOCP's solve time for the same iterates.
REFINE = 1


def newton_solver(A: Array, cone: ProductCone, w: tuple, active: Array,
                  constants: tuple) -> Callable[[Array, Array], tuple]:
    """Factorise the Newton system at scaling ``w``; returns ``(r_x, r_z) -> (dx, dz)`` reusing the factors.

    ``active``: False for an instance of a batch whose result is discarded (it keeps the
    LU fallback from running for it). ``constants``: ``cone.condensed_constants`` of the cone rows of ``A``.
    """
    p, n = cone.zero, A.shape[1]
    dtype = A.dtype
    scale_rows = jax.vmap(lambda col: cone.mul("mul_winvt", w, col), in_axes=1, out_axes=1)
    G = scale_rows(A[p:])

    def refined(solve: Callable) -> Callable[[Array, Array], tuple]:
        """The Newton system's solve from ``solve``, a regularised solve of its scaled form."""
        def scaled_solve(r_x: Array, r_z: Array) -> tuple[Array, Array]:
            dx, dz0, dl = solve(r_x, r_z[:p], cone.mul("mul_winvt", w, r_z[p:]))
            return dx, jnp.concatenate([dz0, cone.mul("mul_winv", w, dl)])

        def kkt_solve(r_x: Array, r_z: Array) -> tuple[Array, Array]:
            def refine(_, point):
                dx, dz = point
                h_dz = jnp.concatenate([jnp.zeros((p,), dtype), cone.mul("mul_wt", w, cone.mul("mul_w", w, dz[p:]))])
                ex, ez = scaled_solve(r_x - A.T @ dz, r_z - A @ dx + h_dz)
                return dx + ex, dz + ez

            # The first pass, from zero, is the plain solve.
            return lax.fori_loop(0, 1 + REFINE, refine, (jnp.zeros((n,), dtype), jnp.zeros_like(r_z)))

        return kkt_solve

    return condensed_kkt_solve(jnp.zeros((n, n), dtype), A[:p], G, jnp.ones((cone.dim,), dtype),
                               regularisation(dtype), active, cone.condensed(w, A[p:], G, constants), refined)


def newton_system(A: Array, cone: ProductCone) -> NewtonSystem:
    """:func:`newton_solver` of ``A`` as a function of ``(w, active)``, with the constants of the condensed
    matrix formed here, once per solve (``A`` is the same at every iteration)."""
    return functools.partial(newton_solver, A, cone, constants=cone.condensed_constants(A[cone.zero:]))
