"""The symmetric cones with their Nesterov-Todd scaling: non-negative orthant, second-order cone, PSD cone.

Each implements :class:`~optdsl.runtime.solvers.conic_ip.cone.Cone` for one cone.
The NT scaling ``W`` of an interior pair ``(s, z)`` is the one with
``W z = W^-T s = lambda`` (Nesterov & Todd 1997; the formulas of CVXOPT's
``coneqp``, Vandenberghe 2010); complementarity ``s o z = 0`` is linearised in the
scaled variables, ``lambda o (W^-T ds + W dz) = -d``, so that
``ds + W'W dz = -W' (lambda \\ d)``. The predictor's ``d`` is ``lambda o lambda``;
Mehrotra's corrector adds ``(W^-T ds_a) o (W dz_a) - sigma mu e``. Step lengths are
taken in the scaled space, from ``lambda`` along ``W^-T ds`` and ``W dz``, where the
point is well centred.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optdsl.runtime.solvers.cones import smat, svec, svec_size

Array = jax.Array


def _positive_inverse(v: Array) -> Array:
    """``1 / v`` where ``v > 0``, else ``inf``: the step length at which a decrease ``-1/v`` reaches zero."""
    return jnp.where(v > 0, 1 / jnp.where(v > 0, v, 1), jnp.inf)


# --------------------------------------------------------------------------- non-negative orthant


class _NonnegScaling(NamedTuple):
    w: Array  # sqrt(s / z)
    lam: Array  # sqrt(s z)


@dataclasses.dataclass(frozen=True)
class Nonnegative:
    """One row ``s >= 0`` (self-dual); ``W = sqrt(s / z)``."""

    dim: int = 1
    degree: int = 1
    symmetric = True

    def unit(self, dtype: Any) -> Array:
        return jnp.ones((1,), dtype)

    def margin(self, v: Array) -> Array:
        return v[0]

    def scaling(self, s: Array, z: Array, mu: Array) -> _NonnegScaling:
        return _NonnegScaling(jnp.sqrt(s / z), jnp.sqrt(s * z))

    def mul_w(self, w: _NonnegScaling, v: Array) -> Array:
        return w.w * v

    mul_wt = mul_w

    def mul_winv(self, w: _NonnegScaling, v: Array) -> Array:
        return v / w.w

    mul_winvt = mul_winv

    def affine_ds(self, w: _NonnegScaling, s: Array, z: Array) -> Array:
        return s * z

    def corrector(self, w: _NonnegScaling, s: Array, z: Array, ds: Array, dz: Array, sigma_mu: Array) -> Array:
        return s * z + ds * dz - sigma_mu

    def ds_offset(self, w: _NonnegScaling, s: Array, z: Array, d: Array) -> Array:
        return d / z

    def step_length(self, w: _NonnegScaling, s: Array, z: Array, ds: Array, dz: Array) -> Array:
        return jnp.minimum(s[0] * _positive_inverse(-ds[0]), z[0] * _positive_inverse(-dz[0]))


# --------------------------------------------------------------------------- second-order cone


def _jdot(u: Array, v: Array) -> Array:
    """``u' J v`` with ``J = diag(1, -1, ..., -1)``."""
    return u[0] * v[0] - u[1:] @ v[1:]


def _jnorm(u: Array) -> Array:
    """``sqrt(u' J u)`` for ``u`` in the cone, as ``sqrt((u0 - |u1|)(u0 + |u1|))`` (no cancellation)."""
    r = jnp.linalg.norm(u[1:])
    return jnp.sqrt((u[0] - r) * (u[0] + r))


def _jordan(u: Array, v: Array) -> Array:
    """``u o v = (u'v, u0 v1 + v0 u1)``."""
    return jnp.concatenate([(u @ v)[None], u[0] * v[1:] + v[0] * u[1:]])


def _safe_div(num: Array, den: Array) -> Array:
    """``num / den``, ``inf`` where ``den = 0``."""
    return jnp.where(den != 0, num / jnp.where(den != 0, den, 1), jnp.inf)


def _soc_step(u: Array, d: Array) -> Array:
    """The largest ``a`` with ``u + a d`` in the cone, for ``u`` inside it: the first positive root of
    ``(u + a d)' J (u + a d) = c + b a + q a^2``, computed without cancellation.

    A discriminant that rounding makes slightly negative (a direction tangent to the
    cone) counts as zero: the double root ``-b / (2 q)``.
    """
    q, b, c = _jdot(d, d), 2 * _jdot(u, d), _jdot(u, u)
    disc = b * b - 4 * q * c
    real = disc >= -16 * jnp.finfo(u.dtype).eps * b * b
    root = jnp.sqrt(jnp.maximum(disc, 0))
    t = -0.5 * (b + jnp.where(b >= 0, root, -root))
    roots = jnp.stack([_safe_div(t, q), _safe_div(c, t)])
    return jnp.where(real, jnp.min(jnp.where(roots > 0, roots, jnp.inf)), jnp.inf)


class _SOCScaling(NamedTuple):
    w: Array  # wbar, with wbar' J wbar = 1
    eta: Array  # (s'Js / z'Jz) ** (1/4)
    lam: Array  # W z


@dataclasses.dataclass(frozen=True)
class SecondOrder:
    """The cone ``{(t, x): ||x|| <= t}`` of ``dim`` rows (self-dual).

    ``W = eta Wbar`` with ``Wbar = [[w0, w1'], [w1, I + w1 w1' / (1 + w0)]]``, symmetric,
    ``Wbar^-1 = J Wbar J``.

    >>> cone = SecondOrder(3)
    >>> s, z = jnp.array([2.0, 1.0, 0.0]), jnp.array([1.0, 0.0, 0.5])
    >>> w = cone.scaling(s, z, 1.0)
    >>> bool(jnp.allclose(cone.mul_w(w, z), cone.mul_winvt(w, s))), float(cone.margin(s))
    (True, 1.0)
    """

    dim: int
    degree: int = 1
    symmetric = True

    def unit(self, dtype: Any) -> Array:
        return jnp.zeros((self.dim,), dtype).at[0].set(1)

    def margin(self, v: Array) -> Array:
        return v[0] - jnp.linalg.norm(v[1:])

    def scaling(self, s: Array, z: Array, mu: Array) -> _SOCScaling:
        ns, nz = _jnorm(s), _jnorm(z)
        sb, zb = s / ns, z / nz
        gamma = jnp.sqrt((1 + sb @ zb) / 2)
        w = jnp.concatenate([sb[:1] + zb[:1], sb[1:] - zb[1:]]) / (2 * gamma)
        eta = jnp.sqrt(ns / nz)
        return _SOCScaling(w, eta, eta * _wbar(w, z))

    def mul_w(self, w: _SOCScaling, v: Array) -> Array:
        return w.eta * _wbar(w.w, v)

    mul_wt = mul_w

    def mul_winv(self, w: _SOCScaling, v: Array) -> Array:
        return _flip(_wbar(w.w, _flip(v))) / w.eta

    mul_winvt = mul_winv

    def affine_ds(self, w: _SOCScaling, s: Array, z: Array) -> Array:
        return _jordan(w.lam, w.lam)

    def corrector(self, w: _SOCScaling, s: Array, z: Array, ds: Array, dz: Array, sigma_mu: Array) -> Array:
        shift = _jordan(self.mul_winvt(w, ds), self.mul_w(w, dz))
        return _jordan(w.lam, w.lam) + shift - sigma_mu * self.unit(s.dtype)

    def ds_offset(self, w: _SOCScaling, s: Array, z: Array, d: Array) -> Array:
        return self.mul_wt(w, _jordan_solve(w.lam, d))

    def step_length(self, w: _SOCScaling, s: Array, z: Array, ds: Array, dz: Array) -> Array:
        return jnp.minimum(_soc_step(w.lam, self.mul_winvt(w, ds)), _soc_step(w.lam, self.mul_w(w, dz)))

    def condensed_constant(self, a: Array) -> Array:
        """``a' J a`` for the cone's rows ``a`` of ``A`` (``(dim, n)``): the constant of :meth:`condensed_update`."""
        return a[:1].T @ a[:1] - a[1:].T @ a[1:]

    def condensed_update(self, w: _SOCScaling, a: Array) -> tuple[Array, Array]:
        """``(v, c)`` with ``a' W^-1 W^-T a = v v' - c a' J a`` for the cone's rows ``a`` of ``A``.

        ``Wbar^2 = 2 w w' - J`` (as ``w' J w = 1``) and ``Wbar^-1 = J Wbar J`` give
        ``W^-1 W^-T = J Wbar^2 J / eta^2 = (2 (J w)(J w)' - J) / eta^2``, so ``v = sqrt(2) a' J w / eta`` and
        ``c = 1 / eta^2``: the cone's part of the condensed Newton matrix is a rank-one update of a constant,
        ``O(dim n)`` flops to update instead of ``O(dim n^2)`` to form.
        """
        return 2 ** 0.5 * (a.T @ _flip(w.w)) / w.eta, 1 / w.eta ** 2


def _flip(v: Array) -> Array:
    """``J v``."""
    return jnp.concatenate([v[:1], -v[1:]])


def _wbar(w: Array, v: Array) -> Array:
    """``Wbar v = (w'v, v1 + (v0 + w1'v1 / (1 + w0)) w1)``."""
    inner = w[1:] @ v[1:]
    return jnp.concatenate([(w[0] * v[0] + inner)[None], v[1:] + (v[0] + inner / (1 + w[0])) * w[1:]])


def _jordan_solve(lam: Array, d: Array) -> Array:
    """``x`` with ``lam o x = d`` (the arrow matrix of ``lam`` inverted in closed form)."""
    x0 = (lam[0] * d[0] - lam[1:] @ d[1:]) / _jdot(lam, lam)
    return jnp.concatenate([x0[None], (d[1:] - x0 * lam[1:]) / lam[0]])


# --------------------------------------------------------------------------- positive semidefinite cone


class _PSDScaling(NamedTuple):
    R: Array  # W(X) = R' X R
    Rinv: Array
    lam: Array  # eigenvalues of W z = diag(lam)


@dataclasses.dataclass(frozen=True)
class PositiveSemidefinite:
    """The cone of ``order x order`` PSD matrices in svec form (self-dual); ``W(X) = R' X R``.

    With Cholesky factors ``S = Ls Ls'``, ``Z = Lz Lz'`` and the SVD ``Lz' Ls = U diag(lam) V'``:
    ``R = Ls V diag(lam)^-1/2`` and ``R^-1 = diag(lam)^-1/2 U' Lz'``, so ``R' Z R = R^-1 S R^-T = diag(lam)``.
    The Jordan product is ``X o Y = (XY + YX) / 2``.
    """

    order: int
    symmetric = True

    @property
    def dim(self) -> int:
        return svec_size(self.order)

    @property
    def degree(self) -> int:
        return self.order

    def unit(self, dtype: Any) -> Array:
        return svec(jnp.eye(self.order, dtype=dtype))

    def margin(self, v: Array) -> Array:
        return jnp.linalg.eigvalsh(smat(v))[0]

    def scaling(self, s: Array, z: Array, mu: Array) -> _PSDScaling:
        Ls, Lz = jnp.linalg.cholesky(jnp.stack([smat(s), smat(z)]))  # one LAPACK call for both
        U, lam, Vt = jnp.linalg.svd(Lz.T @ Ls)
        root = jnp.sqrt(lam)
        return _PSDScaling(Ls @ Vt.T / root, (U / root).T @ Lz.T, lam)

    def mul_w(self, w: _PSDScaling, v: Array) -> Array:
        return svec(w.R.T @ smat(v) @ w.R)

    def mul_wt(self, w: _PSDScaling, v: Array) -> Array:
        return svec(w.R @ smat(v) @ w.R.T)

    def mul_winv(self, w: _PSDScaling, v: Array) -> Array:
        return svec(w.Rinv.T @ smat(v) @ w.Rinv)

    def mul_winvt(self, w: _PSDScaling, v: Array) -> Array:
        return svec(w.Rinv @ smat(v) @ w.Rinv.T)

    def affine_ds(self, w: _PSDScaling, s: Array, z: Array) -> Array:
        return svec(jnp.diag(w.lam ** 2))

    def corrector(self, w: _PSDScaling, s: Array, z: Array, ds: Array, dz: Array, sigma_mu: Array) -> Array:
        P, D = smat(self.mul_winvt(w, ds)), smat(self.mul_w(w, dz))
        eye = jnp.eye(self.order, dtype=s.dtype)
        return svec(jnp.diag(w.lam ** 2) + (P @ D + D @ P) / 2 - sigma_mu * eye)

    def ds_offset(self, w: _PSDScaling, s: Array, z: Array, d: Array) -> Array:
        X = 2 * smat(d) / (w.lam[:, None] + w.lam[None, :])
        return svec(w.R @ X @ w.R.T)

    def step_length(self, w: _PSDScaling, s: Array, z: Array, ds: Array, dz: Array) -> Array:
        root = jnp.sqrt(w.lam)
        steps = jnp.stack([smat(self.mul_winvt(w, ds)), smat(self.mul_w(w, dz))]) / jnp.outer(root, root)
        return _positive_inverse(-jnp.min(jnp.linalg.eigvalsh(steps)))
