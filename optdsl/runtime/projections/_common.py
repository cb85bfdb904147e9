"""Argument casting, shape checks and NaN-free arithmetic shared by the projection modules."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from optdsl.errors import ArgumentError
from optdsl.runtime.dtypes import float_dtype

Array = jax.Array
ArrayLike = jax.typing.ArrayLike


def as_floats(*arrays: ArrayLike) -> tuple[Array, ...]:
    """Cast arrays to their common floating dtype (integers become the default float)."""
    dtype = float_dtype(*arrays)
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


