"""The product cone ``K`` of a conic program ``A x + s = b, s in K``: its layout and projections.

Rows of ``s`` are stacked in a fixed order (the SCS convention)::

    K = {0}^zero  x  R_+^nonneg  x  SOC(q_1) x ... x SOC(q_p)  x  PSD(k_1) x ... x PSD(k_r)  x  EXP^exp
        x  POW(a_1) x ... x POW(a_l)

* ``SOC(q)``: ``q`` rows ``(t, x)`` with ``||x||_2 <= t`` (``q = 1`` is ``t >= 0``).
* ``PSD(k)``: ``k (k + 1) / 2`` rows holding :func:`svec` of a symmetric ``k x k``
  matrix -- its lower triangle column by column, off-diagonal entries times
  ``sqrt(2)`` so that ``svec(X) . svec(Y) = trace(X Y)``.
* ``EXP``: 3 rows ``(r, s, t)`` with ``s exp(r / s) <= t`` (closure, ``s > 0``).
* ``POW(a)``: 3 rows ``(x, y, z)`` with ``x^a y^(1 - a) >= |z|``, ``x, y >= 0``, ``0 < a < 1``
  (the Clarabel/SCS power cone).

The dual cone ``K*`` swaps ``{0}`` for the free cone, ``EXP`` and ``POW(a)`` for
their duals (``POW(a)*``: ``(u/a)^a (v/(1 - a))^(1 - a) >= |w|``, ``u, v >= 0``);
the other factors are self-dual. :func:`project_cone` and
:func:`project_dual_cone` act on the LAST axis of a stacked vector (leading
axes are a batch), slice it statically and reuse
:mod:`optdsl.runtime.projections`, so they run under ``jit``/``vmap`` and carry
those projections' derivative rules.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from optdsl.errors import ArgumentError, ArgumentTypeError
from optdsl.runtime.dtypes import float_dtype
from optdsl.runtime.projections import (projection_exp_cone, projection_exp_cone_dual, projection_power_cone,
                                        projection_power_cone_dual, projection_psd_cone,
                                        projection_second_order_cone)

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class Cones:
    """Sizes of the factors of ``K``, in row order; frozen and hashable, so static under ``jit``.

    ``zero``: rows of the zero cone (equalities). ``nonneg``: rows of the
    non-negative orthant. ``soc``: the length ``q_i >= 1`` of each second-order
    cone. ``psd``: the order ``k_i >= 1`` of each PSD cone (it takes
    ``k_i (k_i + 1) / 2`` rows). ``exp``: the number of exponential cones (3 rows each).
    ``power``: the exponent ``0 < a_i < 1`` of each power cone (3 rows each).

    >>> Cones(zero=1, nonneg=2, soc=(3,), psd=(2,), exp=1, power=(0.5,)).dim
    15
    """

    zero: int = 0
    nonneg: int = 0
    soc: tuple[int, ...] = ()
    psd: tuple[int, ...] = ()
    exp: int = 0
    power: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        for name in ("zero", "nonneg", "exp"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ArgumentError(f"Cones.{name} must be an int >= 0, got {value!r}")
            object.__setattr__(self, name, int(value))
        for name in ("soc", "psd"):
            value = getattr(self, name)
            if isinstance(value, (int, np.integer)) or not all(
                    isinstance(q, (int, np.integer)) and not isinstance(q, bool) and q >= 1 for q in value):
                raise ArgumentError(f"Cones.{name} must be a tuple of ints >= 1 (one per cone), got {value!r}")
            object.__setattr__(self, name, tuple(int(q) for q in value))
        if isinstance(self.power, (int, float, np.number)) or not all(
                isinstance(a, (float, int, np.floating, np.integer)) and not isinstance(a, bool) and 0 < a < 1
                for a in self.power):
            raise ArgumentError(f"Cones.power must be a tuple of exponents in (0, 1) (one per cone), "
                                f"got {self.power!r}")
        object.__setattr__(self, "power", tuple(float(a) for a in self.power))

    @property
    def dim(self) -> int:
        """Number of rows ``m`` of ``s`` (and of ``A``, ``b``, ``y``)."""
        return (self.zero + self.nonneg + sum(self.soc) + sum(svec_size(k) for k in self.psd)
                + 3 * (self.exp + len(self.power)))

    def blocks(self) -> np.ndarray:
        """Block id of each row: rows a diagonal scaling must scale alike share an id.

        Zero and non-negative rows are blocks of one; each SOC, PSD,
        exponential and power cone is one block, because only a uniform positive
        scaling maps those cones onto themselves. Shape ``(dim,)``, ids ``0..n_blocks-1``.
        """
        sizes = ([1] * (self.zero + self.nonneg) + list(self.soc)
                 + [svec_size(k) for k in self.psd] + [3] * (self.exp + len(self.power)))
        return np.repeat(np.arange(len(sizes)), sizes).astype(np.int32)


def svec_size(k: int) -> int:
    """Rows taken by a ``k x k`` PSD cone: ``k (k + 1) / 2``."""
    return k * (k + 1) // 2


@functools.lru_cache(maxsize=None)
def _lower_triangle(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row and column indices of the lower triangle, column by column, and the svec weights (1 or sqrt 2)."""
    cols, rows = np.triu_indices(k)  # (j, i) with i >= j, ordered by j then i
    weights = np.where(rows == cols, 1.0, np.sqrt(2.0))
    return rows, cols, weights


def svec(X: jax.typing.ArrayLike) -> Array:
    """Scaled lower-triangle vector of symmetric ``X`` (last two axes ``k x k``) -> ``(..., k (k + 1) / 2)``.

    Column by column, ``X_jj`` then ``sqrt(2) X_ij`` for ``i > j``, so
    ``svec(X) . svec(Y) = trace(X Y)``; :func:`smat` inverts it.

    >>> svec(jnp.array([[1.0, 2.0], [2.0, 3.0]])).round(6).tolist()
    [1.0, 2.828427, 3.0]
    """
    X = jnp.asarray(X)
    if X.ndim < 2 or X.shape[-1] != X.shape[-2]:
        raise ArgumentError(f"svec needs square matrices on the last two axes, got shape {X.shape}")
    rows, cols, weights = _lower_triangle(X.shape[-1])
    return X[..., rows, cols] * jnp.asarray(weights, X.dtype)


def smat(v: jax.typing.ArrayLike) -> Array:
    """Symmetric matrix of an svec vector (last axis ``k (k + 1) / 2``) -> ``(..., k, k)``; inverse of :func:`svec`.

    >>> smat(jnp.array([1.0, 2.0 * 2 ** 0.5, 3.0])).round(6).tolist()
    [[1.0, 2.0], [2.0, 3.0]]
    """
    v = jnp.asarray(v)
    d = v.shape[-1] if v.ndim else -1
    k = int(round((np.sqrt(8 * d + 1) - 1) / 2)) if d > 0 else 0
    if v.ndim < 1 or svec_size(k) != d or d == 0:
        raise ArgumentError(f"smat needs a last axis of length k (k + 1) / 2 for some k >= 1, got shape {v.shape}")
    rows, cols, weights = _lower_triangle(k)
    entries = v / jnp.asarray(weights, v.dtype)
    X = jnp.zeros(v.shape[:-1] + (k, k), v.dtype)
    return X.at[..., rows, cols].set(entries).at[..., cols, rows].set(entries)


# A segment is (row indices of shape (count, size), projection of an array shaped (..., count, size)).
_Segment = tuple[np.ndarray, Callable[[Array], Array]]


def _project_soc(block: Array) -> Array:
    t, x = projection_second_order_cone(block[..., 0], block[..., 1:])
    return jnp.concatenate([t[..., None], x], axis=-1)


def _project_psd(block: Array) -> Array:
    return svec(projection_psd_cone(smat(block)))


def _project_exp(block: Array, dual: bool) -> Array:
    project = projection_exp_cone_dual if dual else projection_exp_cone
    return jnp.stack(project(block[..., 0], block[..., 1], block[..., 2]), axis=-1)


def _project_power(block: Array, alphas: tuple[float, ...], dual: bool) -> Array:
    project = projection_power_cone_dual if dual else projection_power_cone
    alpha = jnp.asarray(alphas, block.dtype)
    return jnp.stack(project(block[..., 0], block[..., 1], block[..., 2], alpha), axis=-1)


@functools.lru_cache(maxsize=None)
def _segments(cones: Cones, dual: bool) -> tuple[tuple[_Segment, ...], np.ndarray | None]:
    """Static layout: cones of one kind and size gathered into one batched projection, and the inverse permutation
    (None where the segments are already in row order)."""
    segments: list[_Segment] = []
    offset = 0

    def take(count: int, size: int) -> np.ndarray:
        nonlocal offset
        idx = offset + np.arange(count * size).reshape(count, size)
        offset += count * size
        return idx

    zero_rows = take(1, cones.zero)
    segments.append((zero_rows, (lambda v: v) if dual else jnp.zeros_like))
    segments.append((take(1, cones.nonneg), lambda v: jnp.maximum(v, 0)))
    soc_rows = [take(1, q)[0] for q in cones.soc]
    psd_rows = [take(1, svec_size(k))[0] for k in cones.psd]
    for sizes, rows, project in ((cones.soc, soc_rows, _project_soc), (cones.psd, psd_rows, _project_psd)):
        for size in sorted(set(sizes)):
            segments.append((np.stack([r for r, q in zip(rows, sizes) if q == size]), project))
    segments.append((take(cones.exp, 3), functools.partial(_project_exp, dual=dual)))
    segments.append((take(len(cones.power), 3), functools.partial(_project_power, alphas=cones.power, dual=dual)))
    segments = [(idx, fn) for idx, fn in segments if idx.size]
    order = np.concatenate([idx.ravel() for idx, _ in segments]) if segments else np.zeros(0, np.int64)
    return tuple(segments), None if np.array_equal(order, np.arange(order.size)) else np.argsort(order)


def _rows(v: Array, idx: np.ndarray) -> Array:
    """``v[..., idx]``, by a slice where ``idx`` holds consecutive rows: compiled, a gather is a kernel of its own."""
    first = idx.flat[0]
    if np.array_equal(idx.ravel(), first + np.arange(idx.size)):
        return v[..., first:first + idx.size].reshape(v.shape[:-1] + idx.shape)
    return v[..., idx]


def _project(v: jax.typing.ArrayLike, cones: Cones, dual: bool) -> Array:
    if not isinstance(cones, Cones):
        raise ArgumentTypeError(f"cones must be a Cones instance, got {type(cones).__name__}")
    v = jnp.asarray(v)
    v = v.astype(float_dtype(v.dtype))
    if v.ndim < 1 or v.shape[-1] != cones.dim:
        raise ArgumentError(f"v must have last axis of length cones.dim = {cones.dim}, got shape {v.shape}")
    segments, inverse = _segments(cones, dual)
    if not segments:
        return v
    parts = [fn(_rows(v, idx)).reshape(v.shape[:-1] + (idx.size,)) for idx, fn in segments]
    joined = jnp.concatenate(parts, axis=-1)
    return joined if inverse is None else joined[..., inverse]


def project_cone(v: jax.typing.ArrayLike, cones: Cones) -> Array:
    """Euclidean projection of a stacked vector onto ``K`` (last axis of length ``cones.dim``).

    >>> project_cone(jnp.array([5.0, -1.0, 0.0, 2.0, 0.0]), Cones(zero=1, nonneg=1, soc=(3,))).tolist()
    [0.0, 0.0, 1.0, 1.0, 0.0]
    """
    return _project(v, cones, dual=False)


def project_dual_cone(v: jax.typing.ArrayLike, cones: Cones) -> Array:
    """Euclidean projection of a stacked vector onto the dual cone ``K*`` (zero rows are left free).

    >>> project_dual_cone(jnp.array([5.0, -1.0, 0.0, 2.0, 0.0]), Cones(zero=1, nonneg=1, soc=(3,))).tolist()
    [5.0, 0.0, 1.0, 1.0, 0.0]
    """
    return _project(v, cones, dual=True)
