"""The product cone ``K`` of the interior point: the cone rows of a :class:`Cones` layout as cone objects.

The zero cone's rows are equality constraints to the interior point (their
``s`` is zero, their ``z`` free); they come first and are left to the Newton
system. The remaining rows -- the cone rows -- form :class:`ProductCone`, whose
operations apply the :class:`~optdsl.runtime.solvers.conic_ip.cone.Cone`
interface cone by cone: the cones of one kind and size form a segment, gathered
statically into a ``(count, dim)`` array and handled by one ``vmap``. The power cones
form one segment whatever their exponents, which that ``vmap`` maps as data: a segment
per exponent would compile the cone's operations once per exponent (a weighted
geometric mean of 50 terms is 49 power cones, each of its own exponent).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optdsl.runtime.solvers.cones import Cones
from optdsl.runtime.solvers.conic_ip.cone import Cone
from optdsl.runtime.solvers.conic_ip.exponential import Exponential
from optdsl.runtime.solvers.conic_ip.power import Power
from optdsl.runtime.solvers.conic_ip.symmetric import Nonnegative, PositiveSemidefinite, SecondOrder
from optdsl.runtime.solvers.interior_point.newton_step import single_entries, weighted_gram

Array = jax.Array


class ProductCone:
    """The cone rows of ``cones`` (all rows after the zero cone's), in :class:`Cones` row order.

    ``segments``: ``(cone, rows)`` pairs, ``rows`` of shape ``(count, cone.dim)`` indexing
    the cone rows (the power cones' segment names its first cone; its operations take each cone's own
    exponent). Build it with :func:`product_cone` (cached per layout, so static under ``jit``).
    A segment whose rows are consecutive is read by a slice rather than a gather, and where every one is,
    in row order, the blocks are joined without a permutation: compiled, each gather is a kernel of its own.
    """

    def __init__(self, cones: Cones):
        self.zero = cones.zero
        self.dim = cones.dim - cones.zero
        kinds: list[tuple[Cone, int]] = [(Nonnegative(), 1)] * cones.nonneg
        kinds += [(SecondOrder(q), q) for q in cones.soc]
        kinds += [(PositiveSemidefinite(k), PositiveSemidefinite(k).dim) for k in cones.psd]
        kinds += [(Exponential(), 3)] * cones.exp
        kinds += [(Power(alpha), 3) for alpha in cones.power]
        starts = np.cumsum([0] + [size for _, size in kinds])
        groups: dict[Any, list[tuple[Cone, np.ndarray]]] = {}
        for (cone, size), start in zip(kinds, starts):
            groups.setdefault(Power if isinstance(cone, Power) else cone, []).append((cone, start + np.arange(size)))
        self.segments = tuple((members[0][0], np.stack([rows for _, rows in members])) for members in groups.values())
        self._exponents = tuple(np.array([cone.alpha for cone, _ in members]) if key is Power else None
                                for key, members in groups.items())
        order = np.concatenate([rows.ravel() for _, rows in self.segments]) if self.segments else np.zeros(0, int)
        self._inverse = None if np.array_equal(order, np.arange(order.size)) else np.argsort(order)
        self._slices = tuple(slice(rows[0, 0], rows[0, 0] + rows.size)
                             if np.array_equal(rows.ravel(), rows[0, 0] + np.arange(rows.size)) else None
                             for _, rows in self.segments)
        self.degree = sum(cone.degree * rows.shape[0] for cone, rows in self.segments)
        self.symmetric = all(cone.symmetric for cone, _ in self.segments)

    def join(self, parts: list[Array], dtype: Any) -> Array:
        """The vector of cone rows from per-segment ``(count, dim)`` blocks."""
        joined = jnp.concatenate([jnp.zeros((0,), dtype)] + [p.reshape(-1) for p in parts])
        return joined if self._inverse is None else joined[self._inverse]

    def block(self, i: int, v: Array) -> Array:
        """The rows of segment ``i`` of ``v`` (cone rows along its first axis), of shape ``(count, dim, ...)``."""
        rows = self.segments[i][1]
        part = self._slices[i]
        return v[rows] if part is None else v[part].reshape(rows.shape + v.shape[1:])

    def _method(self, i: int, method: str) -> tuple[Callable, tuple]:
        """Segment ``i``'s ``method`` and the operands mapped ahead of the others: the power cones' exponents."""
        cone, exponents = self.segments[i][0], self._exponents[i]
        if exponents is None:
            return getattr(cone, method), ()
        return (lambda alpha, *args: getattr(Power(alpha), method)(*args)), (jnp.asarray(exponents),)

    def _each(self, method: str, scalings: tuple | None, *vectors: Array, shared: tuple = ()) -> list[Array]:
        """``cone.<method>([w,] *blocks, *shared)`` for every cone of every segment (``shared`` not mapped)."""
        out = []
        for i in range(len(self.segments)):
            fn, exponents = self._method(i, method)
            w = () if scalings is None else (scalings[i],)
            mapped = (*exponents, *w, *(self.block(i, v) for v in vectors))
            out.append(jax.vmap(fn, in_axes=(0,) * len(mapped) + (None,) * len(shared))(*mapped, *shared))
        return out

    def unit(self, dtype: Any) -> Array:
        """``e`` of every cone."""
        parts = []
        for i, (_, rows) in enumerate(self.segments):
            fn, exponents = self._method(i, "unit")
            parts.append(jax.vmap(lambda *alpha: fn(*alpha, dtype), axis_size=rows.shape[0])(*exponents))
        return self.join(parts, dtype)

    def margin(self, v: Array) -> Array:
        """The smallest margin over the cones (``inf`` without cone rows)."""
        return jnp.min(jnp.concatenate([jnp.ravel(m) for m in self._each("margin", None, v)] + [jnp.full(
            (1,), jnp.inf, v.dtype)]))

    def scaling(self, s: Array, z: Array, mu: Array) -> tuple:
        """The scaling of every cone at ``(s, z)``: one batched pytree per segment."""
        return tuple(self._each("scaling", None, s, z, shared=(mu,)))

    def mul(self, op: str, w: tuple, v: Array) -> Array:
        """``op`` (``"mul_w"``, ``"mul_wt"``, ``"mul_winv"``, ``"mul_winvt"``) applied cone by cone."""
        return self.join(self._each(op, w, v), v.dtype)

    def affine_ds(self, w: tuple, s: Array, z: Array) -> Array:
        return self.join(self._each("affine_ds", w, s, z), s.dtype)

    def corrector(self, w: tuple, s: Array, z: Array, ds: Array, dz: Array, sigma_mu: Array) -> Array:
        return self.join(self._each("corrector", w, s, z, ds, dz, shared=(sigma_mu,)), s.dtype)

    def ds_offset(self, w: tuple, s: Array, z: Array, d: Array) -> Array:
        return self.join(self._each("ds_offset", w, s, z, d), s.dtype)

    def structured(self, n: int) -> tuple[bool, ...]:
        """Per segment: whether its part of the condensed Newton matrix (``n`` columns) comes from a constant and
        rank-one updates (a cone's ``condensed_update``) rather than from the Gram matrix of its scaled rows.

        Taken for cones of more than two rows (an update costs about ``4 n^2`` flops against ``2 dim n^2``) with at
        least ``n / 4`` rows, so that the constants (``n^2`` per cone) take at most 4 times the memory of the rows.
        """
        return tuple(hasattr(cone, "condensed_update") and cone.dim > 2 and 4 * cone.dim >= n
                     for cone, _ in self.segments)

    def condensed_constants(self, A: Array) -> tuple:
        """Per segment, what its part of the condensed matrix needs from the cone rows ``A``, formed once per solve:
        ``(count, n, n)`` constants for a :meth:`structured` segment, the
        :func:`~optdsl.runtime.solvers.interior_point.newton_step.single_entries` of the nonnegative rows, None
        for the others."""
        flags = self.structured(A.shape[1])
        return tuple(jax.vmap(cone.condensed_constant)(self.block(i, A)) if flags[i]
                     else single_entries(self.block(i, A)[:, 0]) if isinstance(cone, Nonnegative) else None
                     for i, (cone, _) in enumerate(self.segments))

    def condensed(self, w: tuple, A: Array, G: Array, constants: tuple) -> Array:
        """``A' W^-1 W^-T A = G'G`` for the cone rows ``A`` and ``G = W^-T A``: the Gram matrix of the rows of ``G``
        of the other segments plus, per structured one, ``V'V - sum_k c_k C_k`` from its cones'
        ``condensed_update`` ``(v_k, c_k)`` (the rows of ``V``) and :meth:`condensed_constants` ``C_k``, and for
        the nonnegative rows (from :data:`~optdsl.runtime.solvers.interior_point.newton_step.SINGLE_ENTRY_MIN_COLUMNS`
        columns), where each has at most one non-zero (bounds on variables), their squares added to the diagonal."""
        dense = [rows.ravel() for (_, rows), C in zip(self.segments, constants) if C is None]
        n = G.shape[1]
        if not dense:
            total = jnp.zeros((n, n), G.dtype)
        elif len(dense) == len(self.segments):
            total = G.T @ G
        else:
            Gd = G[np.concatenate(dense)]
            total = Gd.T @ Gd
        for i, ((cone, _), scaling, C) in enumerate(zip(self.segments, w, constants)):
            if C is None:
                continue
            if isinstance(cone, Nonnegative):
                rows = self.block(i, G)[:, 0]
                total = total + weighted_gram(rows, jnp.ones(rows.shape[0], rows.dtype), C)
            else:
                V, c = jax.vmap(cone.condensed_update)(scaling, self.block(i, A))
                total = total + V.T @ V - jnp.tensordot(c, C, axes=1)
        return total

    def step_length(self, w: tuple, s: Array, z: Array, ds: Array, dz: Array) -> Array:
        """The largest step keeping every ``s`` and ``z`` in their cones (``inf`` if none limits it)."""
        steps = [jnp.ravel(a) for a in self._each("step_length", w, s, z, ds, dz)]
        return jnp.min(jnp.concatenate(steps + [jnp.full((1,), jnp.inf, s.dtype)]))


@functools.cache
def product_cone(cones: Cones) -> ProductCone:
    """The :class:`ProductCone` of a layout (one object per layout).

    >>> cone = product_cone(Cones(zero=1, nonneg=2, soc=(3,), psd=(2,)))
    >>> cone.dim, cone.degree, [rows.shape for _, rows in cone.segments]
    (8, 5, [(2, 1), (1, 3), (1, 3)])
    """
    return ProductCone(cones)
