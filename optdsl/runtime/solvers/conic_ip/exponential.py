"""The exponential cone, with the primal-dual scaling of Dahl & Andersen (2022) as Clarabel uses it.

``K = closure{(r, s, t): s > 0, s exp(r / s) <= t}`` and its dual
``K* = closure{(u, v, w): u < 0, -u exp(v / u) <= e w}``. The interior point works with the
dual barrier (degree 3)

    f*(z) = -log(v - u - u log(-w / u)) - log(-u) - log(w)

and its conjugate ``f``, whose gradient needs the Wright omega function; the scaling,
corrector and step lengths are those of every non-symmetric cone
(:mod:`~optdsl.runtime.solvers.conic_ip.nonsymmetric`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from optdsl.runtime.solvers.conic_ip.nonsymmetric import NonSymmetricCone

Array = jax.Array

#: The point ``s = z`` with ``s = -grad f*(z)``: the central point of the exponential cone (Clarabel's start).
CENTRAL = (-1.051383945322714, 0.556409619469370, 1.258967884768947)
#: Newton steps for the Wright omega function.
OMEGA_STEPS = 8


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


@dataclasses.dataclass(frozen=True)
class Exponential(NonSymmetricCone):
    """One exponential cone, rows ``(r, s, t)`` (see the module docstring).

    >>> cone = Exponential()
    >>> s, z = cone.unit(jnp.float64), jnp.array([-1.0, 0.5, 2.0])
    >>> w = cone.scaling(s, z, 1.0)
    >>> bool(jnp.allclose(cone.mul_wt(w, cone.mul_w(w, z)), s))  # H z = s
    True
    """

    def central(self, dtype: Any) -> Array:
        return jnp.asarray(CENTRAL, dtype)

    dual_barrier = staticmethod(dual_barrier)
    hessian_factor = staticmethod(_hessian_factor)
    conjugate_point = staticmethod(conjugate_point)
    primal_interior = staticmethod(_primal_interior)
    dual_interior = staticmethod(_dual_interior)
