"""Arithmetic whose value and derivative stay finite where the plain formula would divide by zero."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def safe_div(num: jax.Array, den: jax.Array, ok: jax.Array | None = None) -> jax.Array:
    """``num / den`` where ``ok`` (default ``den != 0``), else 0; no inf or NaN in the value or its derivative."""
    ok = den != 0 if ok is None else ok
    return jnp.where(ok, num / jnp.where(ok, den, jnp.ones_like(den)), jnp.zeros_like(num))


def safe_norm(x: jax.Array, axis: int = -1, keepdims: bool = False) -> jax.Array:
    """Euclidean norm whose derivative at 0 is 0 instead of NaN."""
    sq = jnp.sum(x * x, axis=axis, keepdims=keepdims)
    positive = sq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1)), 0)
