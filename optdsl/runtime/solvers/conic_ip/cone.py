"""What the interior point asks of each cone: the interface every cone of ``K`` implements.

The iteration (:mod:`~optdsl.runtime.solvers.conic_ip.iteration`) never looks
inside a cone; it calls these operations on the product
(:class:`~optdsl.runtime.solvers.conic_ip.product.ProductCone`), which applies
them cone by cone, batched over the cones of one kind and size. Vectors are the
rows of one cone (length :attr:`Cone.dim`); ``s`` lives in ``K``, ``z`` in ``K*``.

The Newton step linearises the complementarity condition as

    ds + H dz = -ds_offset(d)       with ``H = W' W``

where ``W`` is the cone's scaling and ``d`` a complementarity term: the predictor's
:meth:`Cone.affine_ds`, or the corrector's :meth:`Cone.corrector`. For a symmetric
cone ``W`` is the Nesterov-Todd scaling (``W z = W^-T s = lambda``) and
``ds_offset(d) = W' (lambda \\ d)`` in its Jordan algebra; a non-symmetric cone (the
exponential or power cone) supplies ``H`` from a primal-dual scaling, with any
factor ``W' W = H`` for ``W``, ``ds_offset(d) = d`` and its own ``d`` terms. The
Newton system only needs ``W`` applied (``mul_*``), never ``H`` formed.

A product with a non-symmetric cone starts from ``s = z = e`` on every cone
(:meth:`Cone.unit`); a symmetric one from least-squares points moved inside the
cones along ``e`` by their :meth:`Cone.margin`.
"""

from __future__ import annotations

from typing import Any, Protocol

import jax

Array = jax.Array


class Cone(Protocol):
    """One cone of ``K`` (with its dual ``K*``): the operations of a primal-dual interior point."""

    #: Rows the cone takes.
    dim: int
    #: Its barrier's degree (``mu = (s'z + tau kappa) / (degree + 1)``).
    degree: int
    #: Whether the cone is symmetric (self-dual and homogeneous, with a Nesterov-Todd scaling).
    symmetric: bool

    def unit(self, dtype: Any) -> Array:
        """The central point ``e``: ``s = z = e`` is on the central path with ``mu = 1``."""

    def margin(self, v: Array) -> Array:
        """The largest ``a`` with ``v - a e`` in the cone (negative outside it): how far inside ``v`` is."""

    def scaling(self, s: Array, z: Array, mu: Array) -> Any:
        """The scaling at interior ``(s, z)`` (a pytree); ``mu`` is the current complementarity."""

    def mul_w(self, w: Any, v: Array) -> Array:
        """``W v``."""

    def mul_wt(self, w: Any, v: Array) -> Array:
        """``W' v``."""

    def mul_winv(self, w: Any, v: Array) -> Array:
        """``W^-1 v``."""

    def mul_winvt(self, w: Any, v: Array) -> Array:
        """``W^-T v``."""

    def affine_ds(self, w: Any, s: Array, z: Array) -> Array:
        """The predictor's complementarity term (``lambda o lambda`` for a symmetric cone)."""

    def corrector(self, w: Any, s: Array, z: Array, ds: Array, dz: Array, sigma_mu: Array) -> Array:
        """The corrector's complementarity term from the predictor's step ``(ds, dz)`` and target ``sigma mu``."""

    def ds_offset(self, w: Any, s: Array, z: Array, d: Array) -> Array:
        """The term ``o`` with ``ds + H dz = -o`` for complementarity term ``d``."""

    def step_length(self, w: Any, s: Array, z: Array, ds: Array, dz: Array) -> Array:
        """The largest ``a`` with ``s + a ds`` in the cone and ``z + a dz`` in its dual (``inf`` if unbounded)."""
