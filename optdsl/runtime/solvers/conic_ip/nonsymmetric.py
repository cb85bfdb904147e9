"""Three-row non-symmetric cones (exponential, power) with the primal-dual scaling of Dahl & Andersen (2022).

These cones are not self-dual and have no Nesterov-Todd scaling. As Clarabel does,
the interior point works with a barrier ``f*`` of the dual cone ``K*`` (degree 3),
known in closed form, and its conjugate ``f``, a barrier of ``K`` whose gradient
each cone supplies (:meth:`NonSymmetricCone.conjugate_point`). The central path is
``s = -mu grad f*(z)``; its linearisation ``ds + H dz = -d`` takes ``d = s`` in the
predictor and ``d = s + sigma mu grad f*(z) - eta`` in the corrector, with the
third-order term ``eta = 1/2 f*'''(z)[dz, f*''(z)^-1 ds]`` of the predictor's step
(Mehrotra's correction for a non-symmetric cone). ``H`` is the rank-three primal-dual
scaling

    H = s s' / (s'z) + ds ds' / (ds'dz) + t a a',   ds = s - mu s~,  dz = z - mu z~

with ``s~ = -grad f*(z)``, ``z~ = -grad f(s)``, ``mu = s'z / 3`` and ``a`` the unit vector
orthogonal to ``z`` and ``z~``: it maps ``z`` to ``s`` and ``z~`` to ``s~``, as the NT scaling
does on a symmetric cone. ``t`` is ``mu`` times the Frobenius norm of ``f*''(z)`` with its part
on ``s~`` and on ``r = mu~ s~ - f*''(z) z~`` taken out (``mu~ = s~'z~ / 3``; Clarabel's choice --
the dual barrier's curvature along ``a``, measured as Clarabel does, took a third of the
iterations that ``t = mu a' f*''(z) a`` took on exponential cones). Near the central path
(``mu mu~ = 1``, where ``ds`` and ``dz`` vanish) ``H`` is the dual scaling ``mu f*''(z)``.
Step lengths are found by bisection on the interval of steps that keep both points
strictly inside.

A cone subclasses :class:`NonSymmetricCone` and supplies its central point, ``f*``,
a factor of ``f*''``, the conjugate point and the two interior tests.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
from jax import lax

Array = jax.Array

#: Bisection steps for the longest step inside the cone (to ``2^-50`` of the step).
STEP_BISECTIONS = 50
#: Bisection steps for the margin.
MARGIN_STEPS = 100


class NonSymmetricScaling(NamedTuple):
    W: Array  # 3 x 3, W'W = H


class NonSymmetricCone(abc.ABC):
    """The :class:`~optdsl.runtime.solvers.conic_ip.cone.Cone` operations of a three-row non-symmetric cone."""

    dim: ClassVar[int] = 3
    degree: ClassVar[int] = 3
    symmetric: ClassVar[bool] = False

    @abc.abstractmethod
    def central(self, dtype: Any) -> Array:
        """The point ``e = -grad f*(e)`` (in ``K`` and ``K*``)."""

    @abc.abstractmethod
    def dual_barrier(self, z: Array) -> Array:
        """``f*(z)`` for ``z`` inside ``K*``."""

    @abc.abstractmethod
    def hessian_factor(self, z: Array) -> Array:
        """Upper triangular ``R`` with ``R'R = f*''(z)``."""

    @abc.abstractmethod
    def conjugate_point(self, s: Array) -> Array:
        """``z~ = -grad f(s)``: the point of ``K*`` with ``-grad f*(z~) = s``, for ``s`` inside ``K``."""

    @abc.abstractmethod
    def primal_interior(self, s: Array) -> Array:
        """Whether ``s`` is inside ``K`` (a bool scalar)."""

    @abc.abstractmethod
    def dual_interior(self, z: Array) -> Array:
        """Whether ``z`` is inside ``K*`` (a bool scalar)."""

    def unit(self, dtype: Any) -> Array:
        return self.central(dtype)

    def margin(self, v: Array) -> Array:
        """By bisection on ``a`` in ``[-B, B]``, ``B = 10 (1 + max|v|)`` (``-B`` when ``v`` is further out)."""
        e = self.unit(v.dtype)
        bound = 10 * (1 + jnp.max(jnp.abs(v)))

        def bisect(_, bracket):
            low, high = bracket
            mid = (low + high) / 2
            inside = self.primal_interior(v - mid * e)
            return jnp.where(inside, mid, low), jnp.where(inside, high, mid)

        return lax.fori_loop(0, MARGIN_STEPS, bisect, (-bound, bound))[0]

    def scaling(self, s: Array, z: Array, mu: Array) -> NonSymmetricScaling:
        """The scaling of the module docstring, with the cone's own ``mu = s'z / 3``.

        The primal-dual ``H`` is ``B B'`` for ``B = [s / sqrt(s'z), ds / sqrt(ds'dz), sqrt(t) a]``, so ``W = B'``
        is exact; the dual scaling's factor is ``sqrt(mu) R`` (:meth:`hessian_factor`).
        """
        del mu  # the cone's own, below
        mu = s @ z / self.degree
        R = self.hessian_factor(z)
        s_t, z_t = -jax.grad(self.dual_barrier)(z), self.conjugate_point(s)
        ds, dz = s - mu * s_t, z - mu * z_t
        axis = jnp.cross(z, z_t)
        axis = axis / jnp.linalg.norm(axis)
        curvature = ds @ dz
        hess = R.T @ R
        mu_t = s_t @ z_t / self.degree
        spread = z_t @ hess @ z_t - self.degree * mu_t ** 2
        residual = mu_t * s_t - hess @ z_t
        t = mu * jnp.linalg.norm(hess - jnp.outer(s_t, s_t) / self.degree - jnp.outer(residual, residual) / spread)
        B = jnp.stack([s / jnp.sqrt(s @ z), ds / jnp.sqrt(jnp.abs(curvature)), jnp.sqrt(t) * axis], axis=1)
        eps = jnp.finfo(s.dtype).eps
        usable = ((mu * mu_t - 1 > jnp.sqrt(eps)) & (jnp.abs(spread) > eps) & (curvature > 0)
                  & jnp.all(jnp.isfinite(B)))
        return NonSymmetricScaling(jnp.where(usable, B.T, jnp.sqrt(mu) * R))

    def mul_w(self, w: NonSymmetricScaling, v: Array) -> Array:
        return w.W @ v

    def mul_wt(self, w: NonSymmetricScaling, v: Array) -> Array:
        return w.W.T @ v

    def mul_winv(self, w: NonSymmetricScaling, v: Array) -> Array:
        return jnp.linalg.solve(w.W, v)

    def mul_winvt(self, w: NonSymmetricScaling, v: Array) -> Array:
        return jnp.linalg.solve(w.W.T, v)

    def affine_ds(self, w: NonSymmetricScaling, s: Array, z: Array) -> Array:
        return s

    def corrector(self, w: NonSymmetricScaling, s: Array, z: Array, ds: Array, dz: Array,
                  sigma_mu: Array) -> Array:
        R = self.hessian_factor(z)
        u = jsl.solve_triangular(R, jsl.solve_triangular(R, ds, trans=1), trans=0)
        grad = jax.grad(self.dual_barrier)
        eta = jax.jvp(lambda x: jax.jvp(grad, (x,), (u,))[1], (z,), (dz,))[1] / 2
        return s + sigma_mu * grad(z) - eta

    def ds_offset(self, w: NonSymmetricScaling, s: Array, z: Array, d: Array) -> Array:
        return d

    def step_length(self, w: NonSymmetricScaling, s: Array, z: Array, ds: Array, dz: Array) -> Array:
        """The boundary of ``{a: s + a ds, z + a dz strictly inside}`` (an interval from 0), by bisection on
        ``[0, 2]``; 2 stands for any longer step (the iteration takes at most 1)."""

        def inside(a: Array) -> Array:
            return self.primal_interior(s + a * ds) & self.dual_interior(z + a * dz)

        def bisect(_, bracket):
            low, high = bracket
            mid = (low + high) / 2
            ok = inside(mid)
            return jnp.where(ok, mid, low), jnp.where(ok, high, mid)

        two = jnp.asarray(2, s.dtype)
        return jnp.where(inside(two), jnp.inf, lax.fori_loop(0, STEP_BISECTIONS, bisect, (jnp.zeros_like(two), two))[0])
