"""The power cone, with the primal-dual scaling of Dahl & Andersen (2022) as Clarabel uses it.

``K = {(x, y, t): x^a y^(1 - a) >= |t|, x, y >= 0}`` (``0 < a < 1``) and its dual
``K* = {(u, v, w): (u / a)^a (v / (1 - a))^(1 - a) >= |w|, u, v >= 0}``. With
``F(x, y, t) = -log(x^(2a) y^(2 - 2a) - t^2) - (1 - a) log x - a log y``, the standard
barrier of ``K`` (degree 3), the interior point works with the dual barrier

    f*(u, v, w) = F(u / a, v / (1 - a), w),   psi = (u / a)^a (v / (1 - a))^(1 - a),   phi = psi^2 - w^2,

(``F`` up to a constant on ``K*``), whose conjugate ``f`` has no closed form: its gradient
comes from a scalar Newton solve (:func:`conjugate_point`). The scaling, corrector and step
lengths are those of every non-symmetric cone (:mod:`~optdsl.runtime.solvers.conic_ip.nonsymmetric`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from optdsl.errors import ArgumentError
from optdsl.runtime.scalar_root import bracketed_root
from optdsl.runtime.solvers.conic_ip.nonsymmetric import NonSymmetricCone

Array = jax.Array


def _psi_phi(z: Array, alpha: float) -> tuple[Array, Array]:
    """``psi = (u / a)^a (v / (1 - a))^(1 - a)`` and ``phi = psi^2 - w^2`` of ``z = (u, v, w)``, ``u, v > 0``."""
    u, v, w = z
    psi = jnp.exp(alpha * jnp.log(u / alpha) + (1 - alpha) * jnp.log(v / (1 - alpha)))
    return psi, (psi - w) * (psi + w)


def dual_barrier(z: Array, alpha: float) -> Array:
    """``f*(z) = -log(phi) - (1 - a) log u - a log v`` for ``z = (u, v, w)`` inside ``K*``."""
    u, v, _ = z
    _, phi = _psi_phi(z, alpha)
    return -jnp.log(phi) - (1 - alpha) * jnp.log(u) - alpha * jnp.log(v)


def hessian_factor(z: Array, alpha: float) -> Array:
    """Upper triangular ``R`` with ``R'R = f*''(z)``, from a QR factorisation of five rank-one terms.

    With ``l = (2a / u, 2 (1 - a) / v, 0)``, ``q = (1 / u, -1 / v, 0)`` and ``e_i`` the unit vectors,
    ``f*'' = (1 - a) e1 e1' / u^2 + a e2 e2' / v^2 + 2 a (1 - a) (psi^2 / phi) q q' + N`` where
    ``N = A l l' + B (l e3' + e3 l') + C e3 e3'`` (``A = psi^2 (phi + 2 w^2) / (2 phi^2)``,
    ``B = -2 w psi^2 / phi^2``, ``C = 2 (phi + 2 w^2) / phi^2``) is positive definite on its plane:
    ``N = (B l + C e3)(B l + C e3)' / C + psi^2 / (2 (phi + 2 w^2)) l l'``. Every term is a square, so
    the factor keeps its accuracy where the Hessian is ill-conditioned (near the boundary of ``K*``).
    """
    u, v, w = z
    psi, phi = _psi_phi(z, alpha)
    zero, one = jnp.zeros_like(u), jnp.ones_like(u)
    ell = jnp.stack([2 * alpha / u, 2 * (1 - alpha) / v, zero])
    e3 = jnp.stack([zero, zero, one])
    spread = phi + 2 * w * w
    B, C = -2 * w * psi ** 2 / phi ** 2, 2 * spread / phi ** 2
    rows = jnp.stack([jnp.stack([jnp.sqrt(1 - alpha) / u, zero, zero]),
                      jnp.stack([zero, jnp.sqrt(alpha) / v, zero]),
                      jnp.sqrt(2 * alpha * (1 - alpha) / phi) * psi * jnp.stack([1 / u, -1 / v, zero]),
                      (B * ell + C * e3) / jnp.sqrt(C),
                      psi / jnp.sqrt(2 * spread) * ell])
    return jnp.linalg.qr(rows, mode="r")


def conjugate_point(s: Array, alpha: float) -> Array:
    """``z~ = -grad f(s)``: the point of ``K*`` with ``-grad f*(z~) = s``, for ``s = (x, y, t)`` inside ``K``.

    Writing ``zeta = psi^2 / phi >= 1`` at ``z~``, the equations read ``u = (2 a zeta + 1 - a) / x``,
    ``v = (2 (1 - a) zeta + a) / y`` and ``w = -t psi^2 / (2 zeta)``, with ``zeta`` the root of
    ``psi(u, v)^2 = 4 zeta (zeta - 1) / t^2``. In logs and in ``theta = log(zeta - 1)`` that equation is
    decreasing, tends to a line as ``theta -> -inf`` (to the root ``zeta = 1`` at ``t = 0``) and to
    ``2 log(|t| / (x^a y^(1 - a))) < 0`` as ``theta -> inf``; its root is found by bracketed Newton from
    the value at ``zeta = 1``.
    """
    x, y, t = s
    a = alpha
    flat = t == 0
    log_t = jnp.log(jnp.abs(jnp.where(flat, 1, t)))
    offset = 2 * a * jnp.log(a * x) + 2 * (1 - a) * jnp.log((1 - a) * y) + jnp.log(4.0) - 2 * log_t

    def gap(theta: Array) -> Array:
        zeta = 1 + jnp.exp(theta)
        return (2 * a * jnp.log(2 * a * zeta + 1 - a) + 2 * (1 - a) * jnp.log(2 * (1 - a) * zeta + a)
                - jnp.log(zeta) - theta - offset)

    guess = 2 * a * jnp.log(1 + a) + 2 * (1 - a) * jnp.log(2 - a) - offset
    theta = bracketed_root(gap, guess - 1, guess + 1)
    zeta = 1 + jnp.where(flat, 0, jnp.exp(theta))
    u, v = (2 * a * zeta + 1 - a) / x, (2 * (1 - a) * zeta + a) / y
    psi, _ = _psi_phi(jnp.stack([u, v, jnp.zeros_like(u)]), a)
    return jnp.stack([u, v, -t * psi ** 2 / (2 * zeta)])


def _geometric_interior(x: Array, y: Array, t: Array, alpha: float) -> Array:
    """``x > 0``, ``y > 0`` and ``x^a y^(1 - a) > |t|``."""
    ok = (x > 0) & (y > 0)
    logs = alpha * jnp.log(jnp.where(ok, x, 1)) + (1 - alpha) * jnp.log(jnp.where(ok, y, 1))
    return ok & (jnp.exp(logs) > jnp.abs(t))


@dataclasses.dataclass(frozen=True)
class Power(NonSymmetricCone):
    """One power cone with exponent ``alpha`` in ``(0, 1)``, rows ``(x, y, t)`` (see the module docstring).

    ``alpha`` is a number, or a scalar array: the product cone maps its power cones' operations over their
    exponents as data, so that cones of different exponents share one compiled segment.

    >>> cone = Power(0.3)
    >>> s, z = cone.unit(jnp.float64), jnp.array([0.5, 2.0, -0.4])
    >>> w = cone.scaling(s, z, 1.0)
    >>> bool(jnp.allclose(cone.mul_wt(w, cone.mul_w(w, z)), s))  # H z = s
    True
    """

    alpha: float | Array

    def __post_init__(self) -> None:
        if isinstance(self.alpha, jax.Array):
            return
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)) or not 0 < self.alpha < 1:
            raise ArgumentError(f"Power cone exponent alpha must be a number in (0, 1), got {self.alpha!r}")

    def central(self, dtype: Any) -> Array:
        """``(sqrt(1 + a), sqrt(2 - a), 0)``: ``-grad f*`` maps it to itself."""
        alpha = jnp.asarray(self.alpha, dtype)
        return jnp.sqrt(jnp.stack([1 + alpha, 2 - alpha, jnp.zeros_like(alpha)]))

    def dual_barrier(self, z: Array) -> Array:
        return dual_barrier(z, self.alpha)

    def hessian_factor(self, z: Array) -> Array:
        return hessian_factor(z, self.alpha)

    def conjugate_point(self, s: Array) -> Array:
        return conjugate_point(s, self.alpha)

    def primal_interior(self, s: Array) -> Array:
        return _geometric_interior(s[0], s[1], s[2], self.alpha)

    def dual_interior(self, z: Array) -> Array:
        return _geometric_interior(z[0] / self.alpha, z[1] / (1 - self.alpha), z[2], self.alpha)
