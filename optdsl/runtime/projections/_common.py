"""Argument casting, shape checks, the empty-set check and NaN-free arithmetic shared by the projection modules."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from optdsl.errors import ArgumentError, EmptySetError
from optdsl.runtime.dtypes import float_dtype

Array = jax.Array
ArrayLike = jax.typing.ArrayLike


def as_floats(*arrays: ArrayLike, point: int = 1) -> tuple[Array, ...]:
    """Cast arrays to the floating dtype of the point projected, its first ``point`` arrays.

    The set parameters follow the point (integers become the default float), so
    a float32 input comes back float32 whatever the parameters' precision.
    """
    dtype = float_dtype(*arrays[:point])
    return tuple(jnp.asarray(a, dtype) for a in arrays)


def vector_size(name: str, x: Array) -> int:
    """Length of the last axis of a per-vector argument (raises on scalars)."""
    if x.ndim < 1:
        raise ArgumentError(f"{name} must have at least one axis (a vector or a batch of vectors), got a scalar")
    return x.shape[-1]


def check_last_axis(name: str, arr: Array, n: int, what: str = "x") -> None:
    """Raise unless ``arr`` has a last axis of length ``n`` (matching ``what``)."""
    if arr.ndim < 1 or arr.shape[-1] != n:
        raise ArgumentError(f"{name} must have last axis of length {n} to match {what}, got shape {arr.shape}")


def last_axis_param(value: Array) -> Array:
    """A scalar or batch-shaped (``x.shape[:-1]``) set parameter, made to broadcast over the last axis."""
    return jnp.expand_dims(value, -1)


def concrete(*values: Any) -> bool:
    """Whether every leaf of ``values`` is a concrete value (no JAX tracer), so it can be inspected in Python."""
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(values))


def check_nonempty(empty: Callable[[], Any], message: str, *values: Any) -> None:
    """Raise :class:`EmptySetError` with ``message`` when ``values`` are concrete and ``empty()`` holds anywhere.

    Traced values are not inspected (the check would need the numbers); each
    projection's docstring says what it returns for an empty set then.
    """
    if concrete(*values) and bool(jnp.any(empty())):
        raise EmptySetError(message)
