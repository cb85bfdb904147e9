"""The exponential cone, with the primal-dual scaling of Dahl & Andersen (2022) as Clarabel uses it.

``K = closure{(r, s, t): s > 0, s exp(r / s) <= t}`` and its dual
``K* = closure{(u, v, w): u < 0, -u exp(v / u) <= e w}`` are not self-dual and have no
Nesterov-Todd scaling. The interior point works with the dual barrier (degree 3)

    f*(z) = -log(v - u - u log(-w / u)) - log(-u) - log(w)

and its conjugate ``f``, whose gradient needs the Wright omega function. The central
path is ``s = -mu grad f*(z)``; its linearisation ``ds + H dz = -d`` takes ``d = s`` in the
predictor and ``d = s + sigma mu grad f*(z) - eta`` in the corrector, with the third-order
term ``eta = 1/2 f*'''(z)[dz, f*''(z)^-1 ds]`` of the predictor's step (Mehrotra's correction
for a non-symmetric cone). ``H`` is the rank-three primal-dual scaling

    H = s s' / (s'z) + ds ds' / (ds'dz) + t a a',   ds = s - mu s~,  dz = z - mu z~

with ``s~ = -grad f*(z)``, ``z~ = -grad f(s)``, ``mu = s'z / 3`` and ``a`` the unit vector
orthogonal to ``z`` and ``z~``: it maps ``z`` to ``s`` and ``z~`` to ``s~``, as the NT scaling
does on a symmetric cone. ``t`` is ``mu`` times the Frobenius norm of ``f*''(z)`` with its part
on ``s~`` and on ``r = mu~ s~ - f*''(z) z~`` taken out (``mu~ = s~'z~ / 3``; Clarabel's choice --
the dual barrier's curvature along ``a``, measured as Clarabel does, took a third of the
iterations that ``t = mu a' f*''(z) a`` took). Near the central path (``mu mu~ = 1``, where
``ds`` and ``dz`` vanish) ``H`` is the dual scaling ``mu f*''(z)``. Step lengths are found by
bisection on the interval of steps that keep both points strictly inside.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
from jax import lax

Array = jax.Array

#: The point ``s = z`` with ``s = -grad f*(z)``: the central point of the exponential cone (Clarabel's start).
CENTRAL = (-1.051383945322714, 0.556409619469370, 1.258967884768947)
#: Bisection steps for the longest step inside the cone (to ``2^-50`` of the step).
STEP_BISECTIONS = 50
#: Newton steps for the Wright omega function and bisection steps for the margin.
OMEGA_STEPS, MARGIN_STEPS = 8, 100


def dual_barrier(z: Array) -> Array:
    """``f*(z) = -log(psi) - log(-u) - log(w)``, ``psi = v - u - u log(-w / u)``, for ``z = (u, v, w)`` in ``K*``."""
    u, v, w = z
    return -jnp.log(v - u - u * jnp.log(-w / u)) - jnp.log(-u) - jnp.log(w)


def _hessian_factor(z: Array) -> Array:
    """Upper triangular ``R`` with ``R'R = f*''(z)``, without forming the Hessian.

    ``f*'' = g g' / psi^2 + h h' / (-u psi) + e1 e1' / u^2 + e3 e3' / w^2`` with ``g = grad psi =
    (-log(-w / u), 1, -u / w)`` and ``h = (1, 0, -u / w)`` (``-psi''`` is rank one), a sum of four rank-one
    terms whose factor comes from a QR factorisation: the Hessian's condition number near the boundary of
    the cone is beyond the precision a Cholesky factorisation of it would need.
    """
    u, v, w = z
    psi = v - u - u * jnp.log(-w / u)
    g = jnp.stack([-jnp.log(-w / u), jnp.ones_like(u), -u / w])
    h = jnp.stack([jnp.ones_like(u), jnp.zeros_like(u), -u / w])
    zero = jnp.zeros_like(u)
    columns = jnp.stack([g / psi, h / jnp.sqrt(-u * psi), jnp.stack([1 / u, zero, zero]),
                         jnp.stack([zero, zero, 1 / w])])
    return jnp.linalg.qr(columns, mode="r")


def _primal_interior(s: Array) -> Array:
    r, sigma, t = s
    ok = (sigma > 0) & (t > 0)
    return ok & (r < sigma * jnp.log(jnp.where(ok, t / jnp.where(ok, sigma, 1), 1)))


def _dual_interior(z: Array) -> Array:
    u, v, w = z
    ok = (u < 0) & (w > 0)
    ratio = jnp.where(ok, -w / jnp.where(ok, u, -1), 1)
    return ok & (v - u - u * jnp.log(ratio) > 0)


def wright_omega(x: Array) -> Array:
    """``omega`` with ``omega + log(omega) = x`` (Newton's method; ``g`` is concave, so from the start
    ``x - log x`` (``x > 1``) or ``exp(x - 1)`` the iterates stay positive and converge quadratically).

    >>> round(float(wright_omega(jnp.array(1.0))), 12)
    1.0
    """
    start = jnp.where(x > 1, x - jnp.log(jnp.maximum(x, 1)), jnp.exp(jnp.minimum(x, 1) - 1))

    def newton(_, omega):
        return omega - (omega + jnp.log(omega) - x) * omega / (omega + 1)

    return lax.fori_loop(0, OMEGA_STEPS, newton, start)


def conjugate_point(s: Array) -> Array:
    """``z~ = -grad f(s)``: the point of ``K*`` with ``-grad f*(z~) = s``, in closed form.

    With ``s = (r, sigma, t)``: ``q = omega(1 - r / sigma + log(t / sigma))``, ``rho = log(q sigma / t)`` and
    ``z~ = (u, 1 / sigma + u (1 + rho), -u q sigma / t)`` with ``u = 1 / (sigma (1 - q))``.
    """
    r, sigma, t = s
    q = wright_omega(1 - r / sigma + jnp.log(t / sigma))
    rho = jnp.log(q * sigma / t)
    u = 1 / (sigma * (1 - q))
    return jnp.stack([u, 1 / sigma + u * (1 + rho), -u * q * sigma / t])


class _ExpScaling(NamedTuple):
    W: Array  # 3 x 3, W'W = H


@dataclasses.dataclass(frozen=True)
class Exponential:
    """One exponential cone, rows ``(r, s, t)`` (see the module docstring).

    >>> cone = Exponential()
    >>> s, z = cone.unit(jnp.float64), jnp.array([-1.0, 0.5, 2.0])
    >>> w = cone.scaling(s, z, 1.0)
    >>> bool(jnp.allclose(cone.mul_wt(w, cone.mul_w(w, z)), s))  # H z = s
    True
    """

    dim: int = 3
    degree: int = 3
    symmetric = False

    def unit(self, dtype: Any) -> Array:
        return jnp.asarray(CENTRAL, dtype)

    def margin(self, v: Array) -> Array:
        """By bisection on ``a`` in ``[-B, B]``, ``B = 10 (1 + max|v|)`` (``-B`` when ``v`` is further out)."""
        e = self.unit(v.dtype)
        bound = 10 * (1 + jnp.max(jnp.abs(v)))

        def bisect(_, bracket):
            low, high = bracket
            mid = (low + high) / 2
            inside = _primal_interior(v - mid * e)
            return jnp.where(inside, mid, low), jnp.where(inside, high, mid)

        return lax.fori_loop(0, MARGIN_STEPS, bisect, (-bound, bound))[0]

    def scaling(self, s: Array, z: Array, mu: Array) -> _ExpScaling:
        """The scaling of the module docstring, with the cone's own ``mu = s'z / 3``.

        The primal-dual ``H`` is ``B B'`` for ``B = [s / sqrt(s'z), ds / sqrt(ds'dz), sqrt(t) a]``, so ``W = B'``
        is exact; the dual scaling's factor is ``sqrt(mu) R`` (:func:`_hessian_factor`).
        """
        del mu  # the cone's own, below
        mu = s @ z / self.degree
        R = _hessian_factor(z)
        s_t, z_t = -jax.grad(dual_barrier)(z), conjugate_point(s)
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
        return _ExpScaling(jnp.where(usable, B.T, jnp.sqrt(mu) * R))

    def mul_w(self, w: _ExpScaling, v: Array) -> Array:
        return w.W @ v

    def mul_wt(self, w: _ExpScaling, v: Array) -> Array:
        return w.W.T @ v

    def mul_winv(self, w: _ExpScaling, v: Array) -> Array:
        return jnp.linalg.solve(w.W, v)

    def mul_winvt(self, w: _ExpScaling, v: Array) -> Array:
        return jnp.linalg.solve(w.W.T, v)

    def affine_ds(self, w: _ExpScaling, s: Array, z: Array) -> Array:
        return s

    def corrector(self, w: _ExpScaling, s: Array, z: Array, ds: Array, dz: Array, sigma_mu: Array) -> Array:
        R = _hessian_factor(z)
        u = jsl.solve_triangular(R, jsl.solve_triangular(R, ds, trans=1), trans=0)
        eta = jax.jvp(lambda x: jax.jvp(jax.grad(dual_barrier), (x,), (u,))[1], (z,), (dz,))[1] / 2
        return s + sigma_mu * jax.grad(dual_barrier)(z) - eta

    def ds_offset(self, w: _ExpScaling, s: Array, z: Array, d: Array) -> Array:
        return d

    def step_length(self, w: _ExpScaling, s: Array, z: Array, ds: Array, dz: Array) -> Array:
        """The boundary of ``{a: s + a ds, z + a dz strictly inside}`` (an interval from 0), by bisection on
        ``[0, 2]``; 2 stands for any longer step (the iteration takes at most 1)."""

        def bisect(_, bracket):
            low, high = bracket
            mid = (low + high) / 2
            inside = _primal_interior(s + mid * ds) & _dual_interior(z + mid * dz)
            return jnp.where(inside, mid, low), jnp.where(inside, high, mid)

        two = jnp.asarray(2, s.dtype)
        inside = _primal_interior(s + two * ds) & _dual_interior(z + two * dz)
        return jnp.where(inside, jnp.inf, lax.fori_loop(0, STEP_BISECTIONS, bisect, (jnp.zeros_like(two), two))[0])
